"""From a committed event to every reader, partner and device.

:func:`event_committed` is called by :mod:`posts.services` once the event's
transaction commits and enqueues :func:`posts.tasks.fan_out`. A failure to
enqueue (broker down) is logged and left to the sweep: the event row stays
unconfirmed (``fanned_out_at`` is null) until a fan-out run confirms it.

:func:`fan_out` does, for one event:

1. live channel: :func:`posts.channel.publish` (SSE readers drop seqs they
   already have, so publishing twice is harmless);
2. caches: :func:`posts.caching.invalidate_blog`, then a CDN purge by
   surrogate key and a WebSub hub ping, each its own retried task;
3. webhooks: one :class:`~posts.models.WebhookDelivery` row per matching
   partner (unique per partner and event, ``msg_id`` = ``evt_<event>_<partner>``,
   so a second run finds the rows and mints no new webhook-id), dispatched
   in batches of ``LIVEBLOG_WEBHOOK_BATCH_SIZE`` to
   :func:`posts.tasks.deliver_webhooks` (one task POSTs a whole batch
   concurrently with aiohttp);
4. web push, for a published key event or closing note, in batches to
   :func:`posts.tasks.send_push` (each subscription takes an event once);
5. marks the event ``fanned_out_at``.

Every step is idempotent per (event, target), so the sweep may run it again
whenever confirmation is missing: a lost broker message or a worker killed
mid-way delays a push and loses none. Targets that must be retried on their
own clock (a partner that is down) carry their own state (the delivery
row), so the event is confirmed once every target *has* it, not once every
partner has answered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone

from . import caching, channel, services, sse
from .models import Entry, Event, PushSubscription, WebhookDelivery, WebhookPartner

log = logging.getLogger(__name__)

SWEEP_LIMIT = 500


# The hand-off runs in the request that committed: with the broker down it
# tries once more at once and gives up (Celery's default retries for ~0.6 s
# more); the event stays unconfirmed and the sweep re-sends it.
HANDOFF_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


def event_committed(event_id: int) -> None:
    from .tasks import fan_out

    try:
        fan_out.apply_async((event_id,), retry_policy=HANDOFF_RETRY_POLICY)
    except Exception:  # noqa: BLE001 - any broker failure; the sweep retries
        log.warning("could not enqueue fan-out for event %s; the sweep will", event_id, exc_info=True)


def chunked(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def is_push_worthy(event: Event) -> bool:
    """Readers are woken for a newly published key event or closing note."""
    if event.type != Event.Type.ENTRY_PUBLISHED:
        return False
    entry = event.payload.get("entry") or {}
    return bool(entry.get("key_event")) or entry.get("kind") == Entry.Kind.CLOSING


def fan_out(event_id: int) -> bool:
    """Send one event everywhere; False if there is no such event or it was
    already confirmed."""
    from . import tasks

    event = Event.objects.select_related("blog").filter(pk=event_id).first()
    if event is None or event.fanned_out_at is not None:
        return False
    slug = event.blog.slug
    channel.publish(slug, event.message)
    caching.invalidate_blog(slug=slug, seq=event.seq)
    if event.type in (Event.Type.BLOG_UPDATED, Event.Type.BLOG_CLOSED):
        sse.forget_blog(slug)
    if settings.LIVEBLOG_CDN_PURGE_URL:
        tasks.purge_cdn.delay(slug)
    if settings.LIVEBLOG_WEBSUB_HUB:
        tasks.ping_hub.delay(slug)
    delivery_ids = services.webhook_deliveries_create(event=event)
    for batch in chunked(delivery_ids, settings.LIVEBLOG_WEBHOOK_BATCH_SIZE):
        tasks.deliver_webhooks.delay(batch)
    if is_push_worthy(event):
        subscribers = (
            PushSubscription.objects.filter(blog_id=event.blog_id, last_event_id__lt=event.pk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for batch in chunked(list(subscribers), 100):
            tasks.send_push.delay(event.pk, batch)
    services.event_mark_fanned_out(event_id=event.pk)
    return True


# --- The sweep -----------------------------------------------------------------


def unconfirmed_event_ids(*, older_than: float) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than)
    return list(
        Event.objects.filter(fanned_out_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )


def due_delivery_ids(*, limit: int = SWEEP_LIMIT * 4) -> list[int]:
    """Deliveries owed now to partners that are not paused: never tried,
    due for a retry, or claimed by a worker whose lease ran out (it died)."""
    return list(
        WebhookDelivery.objects.filter(
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
            next_attempt_at__lte=timezone.now(),
            partner__active=True,
            partner__paused_at__isnull=True,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def sweep() -> dict:
    """Re-send what was never confirmed; returns what it re-sent."""
    from . import tasks

    events = unconfirmed_event_ids(older_than=settings.LIVEBLOG_SWEEP_GRACE_SECONDS)
    for event_id in events:
        tasks.fan_out.delay(event_id)
    deliveries = due_delivery_ids()
    for batch in chunked(deliveries, settings.LIVEBLOG_WEBHOOK_BATCH_SIZE):
        tasks.deliver_webhooks.delay(batch)
    return {"events": len(events), "deliveries": len(deliveries)}


# --- CDN -------------------------------------------------------------------------


def purge_cdn(slug: str) -> None:
    """Purge the blog's surrogate key (and the blog lists') at the CDN.

    ``LIVEBLOG_CDN_PURGE_URL`` with ``{key}`` gets one POST per key with the
    key in the path (Fastly style); without it, one POST carrying the keys
    in a ``Surrogate-Key`` header. Raises on failure so the task retries.
    """
    url = settings.LIVEBLOG_CDN_PURGE_URL
    keys = [caching.surrogate_key(slug), getattr(caching, "BLOGS_SURROGATE_KEY", "blogs")]
    headers = {"User-Agent": "liveblog-cdn-purge"}
    if settings.LIVEBLOG_CDN_PURGE_TOKEN:
        headers["Authorization"] = f"Bearer {settings.LIVEBLOG_CDN_PURGE_TOKEN}"
    if "{key}" in url:
        for key in keys:
            requests.post(url.replace("{key}", key), headers=headers, timeout=10).raise_for_status()
    else:
        headers["Surrogate-Key"] = " ".join(keys)
        requests.post(url, headers=headers, timeout=10).raise_for_status()


def partners_for(event: Event) -> list[WebhookPartner]:
    """Active partners whose blog and event-type filters match.

    Paused partners are included: their rows wait (the sweep skips paused
    partners) and are delivered when an editor resumes them.
    """
    from django.db.models import Q

    partners = (
        WebhookPartner.objects.filter(active=True)
        .filter(Q(blogs__isnull=True) | Q(blogs=event.blog_id))
        .distinct()
        .order_by("pk")
    )
    return [p for p in partners if not p.event_types or event.type in p.event_types]
