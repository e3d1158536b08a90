"""Web Push: VAPID keys, the notification for a key event or closing note,
and sending a batch through the guarded outbound client (each
subscription takes an event once). See docs/events.md#web-push."""

from __future__ import annotations

import base64
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from posts.domain.models import Event, PushSubscription

from . import outbound, records

log = logging.getLogger(__name__)

PUSH_TTL = 6 * 3600
PUSH_THREADS = 8


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def generate_keys() -> tuple[str, str]:
    """A new VAPID pair: ``(private, public)``, both base64url."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    vapid = Vapid02()
    vapid.generate_keys()
    private = _b64u(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))
    public = _b64u(vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    return private, public


def _keys_from_file(path: Path) -> tuple[str, str]:
    try:
        data = json.loads(path.read_text())
        return data["private_key"], data["public_key"]
    except FileNotFoundError:
        pass
    private, public = generate_keys()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its pair
        data = json.loads(path.read_text())
        return data["private_key"], data["public_key"]
    with os.fdopen(fd, "w") as handle:
        json.dump({"private_key": private, "public_key": public}, handle)
    return private, public


def vapid_keys() -> tuple[str, str]:
    """``(private, public)`` from settings, else from (or into) the key file."""
    if settings.LIVEBLOG_VAPID_PRIVATE_KEY and settings.LIVEBLOG_VAPID_PUBLIC_KEY:
        return settings.LIVEBLOG_VAPID_PRIVATE_KEY, settings.LIVEBLOG_VAPID_PUBLIC_KEY
    return _keys_from_file(Path(settings.LIVEBLOG_VAPID_KEY_FILE))


def public_key() -> str:
    return vapid_keys()[1]


@lru_cache(maxsize=4)
def _signer(private_key: str) -> Vapid02:
    return Vapid02.from_raw(private_key.encode())


def notification_for(event: Event) -> dict:
    """The JSON the service worker shows (see static/push/sw.js)."""
    entry = event.payload.get("entry") or {}
    blog = event.blog
    if event.type == Event.Type.BLOG_OPENED:
        return {
            "title": blog.title,
            "body": "The live blog has started.",
            "url": f"{settings.LIVEBLOG_SITE_URL}/live/{blog.slug}/",
            "tag": f"{blog.slug}-opened",
            "seq": event.seq,
        }
    text = entry.get("headline") or " ".join((entry.get("body") or "").split())[:160]
    closing = entry.get("kind") == "closing"
    note = {
        "title": f"{'Closing: ' if closing else ''}{blog.title}",
        "body": text,
        "url": entry.get("url") or f"{settings.LIVEBLOG_SITE_URL}/live/{blog.slug}/",
        "tag": f"{blog.slug}-{entry.get('id', event.seq)}",
        "seq": event.seq,
    }
    if image := _push_image(entry.get("image")):
        note["image"] = image
    return note


def _push_image(image: dict | None) -> str | None:
    """The photo for the notification: the narrowest JPEG rendition at least
    960 px wide (notifications show ~2:1 at up to ~1000 px), else the widest,
    else the original."""
    if not image:
        return None
    jpegs = sorted((r for r in image.get("renditions") or [] if r["type"] == "image/jpeg"), key=lambda r: r["width"])
    wide = [r for r in jpegs if r["width"] >= 960]
    chosen = wide[0] if wide else (jpegs[-1] if jpegs else None)
    return chosen["url"] if chosen else image.get("url")


def _send_one(subscription: PushSubscription, data: bytes, private_key: str, client) -> bool:
    """Send one notification (no database work: this runs on a pool
    thread); True if the push service says the browser is gone."""
    try:
        webpush(
            requests_session=client,
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=data,
            vapid_private_key=_signer(private_key),
            vapid_claims={"sub": settings.LIVEBLOG_VAPID_SUBJECT},
            ttl=PUSH_TTL,
            timeout=10,
        )
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        if status in (404, 410):
            return True
        log.warning("push to %s failed: %s", subscription.endpoint[:60], exc.message)
    except Exception as exc:  # noqa: BLE001 - one browser's failure never stops the batch
        log.warning("push to %s failed: %s", subscription.endpoint[:60], exc)
    return False


def send_batch(*, event_id: int, subscription_ids: list[int]) -> int:
    """Push one event to these subscriptions; returns how many were sent."""
    event = Event.objects.select_related("blog").filter(pk=event_id).first()
    if event is None:
        return 0
    claimed = [
        pk for pk in subscription_ids if records.push_claim(subscription_id=pk, event_id=event_id)
    ]
    subscriptions = list(PushSubscription.objects.filter(pk__in=claimed))
    if not subscriptions or (event.payload.get("entry") or {}).get("deleted"):
        return 0  # a takedown since: nothing of the entry is pushed
    data = json.dumps(notification_for(event)).encode()
    private_key, _ = vapid_keys()
    client = outbound.session()  # urllib3's pool is thread-safe
    with ThreadPoolExecutor(max_workers=min(PUSH_THREADS, len(subscriptions))) as pool:
        gone = list(pool.map(lambda s: _send_one(s, data, private_key, client), subscriptions))
    for subscription, is_gone in zip(subscriptions, gone, strict=True):
        if is_gone:
            records.push_subscription_expire(subscription_id=subscription.pk)
    return len(subscriptions)
