"""Webhook delivery: Standard Webhooks signing and batched concurrent POSTs
through the guarded outbound client; attempts recorded by records.py.
See docs/events.md#webhooks."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import orjson
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from liveblog.metrics import WEBHOOK_ATTEMPTS
from posts.domain.models import Event, WebhookDelivery

from . import outbound, records
from .outbound import ForbiddenDestination

log = logging.getLogger(__name__)

USER_AGENT = "liveblog-webhooks/1"
MAX_ERROR_CHARS = 500


# --- Building and sending ----------------------------------------------------------


@dataclass
class Outgoing:
    delivery_id: int
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Result:
    delivery_id: int
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def payload_for(delivery: WebhookDelivery) -> bytes:
    if delivery.event_id is None:
        return orjson.dumps(delivery.payload)  # a live-only message (poll.updated), body made when sent
    event = delivery.event
    return orjson.dumps(
        {
            "type": event.type,
            "timestamp": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "blog": event.blog.slug,
            "data": event.message,
        }
    )


def sign(*, secret: str, msg_id: str, body: bytes, at: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def build(delivery: WebhookDelivery, body: bytes | None = None) -> Outgoing:
    body = payload_for(delivery) if body is None else body
    headers = sign(
        secret=delivery.partner.secret, msg_id=delivery.msg_id, body=body, at=datetime.now(tz=UTC)
    )
    return Outgoing(delivery_id=delivery.pk, url=delivery.partner.url, body=body, headers=headers)


async def _post(session: aiohttp.ClientSession, gate: asyncio.Semaphore, out: Outgoing) -> Result:
    started = time.monotonic()
    status_code, error = None, ""
    async with gate:
        try:
            async with outbound.apost(session, out.url, data=out.body, headers=out.headers) as resp:
                status_code = resp.status
                if not 200 <= resp.status < 300:
                    text = (await resp.content.read(200)).decode("utf-8", "replace")
                    error = f"HTTP {resp.status}: {text}".strip()
        except ForbiddenDestination as exc:
            error = str(exc)
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error if isinstance(exc.os_error, ForbiddenDestination) else exc
            error = str(cause)
        except TimeoutError:
            error = f"timed out after {settings.LIVEBLOG_WEBHOOK_TIMEOUT:g}s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return Result(out.delivery_id, status_code, error[:MAX_ERROR_CHARS], duration_ms)


async def post_all(outgoing: list[Outgoing]) -> list[Result]:
    gate = asyncio.Semaphore(max(1, settings.LIVEBLOG_WEBHOOK_CONCURRENCY))
    async with outbound.aiohttp_session(timeout=settings.LIVEBLOG_WEBHOOK_TIMEOUT) as session:
        return list(await asyncio.gather(*(_post(session, gate, out) for out in outgoing)))


def _run(coro):
    """Run a coroutine from sync code, even on a thread that has a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("r", asyncio.run(coro)))
    thread.start()
    thread.join()
    return box["r"]


def deliver(delivery_ids: list[int]) -> list[Result]:
    """Claim, POST and record a batch of deliveries."""
    lease = settings.LIVEBLOG_WEBHOOK_TIMEOUT + 5
    claimed = records.webhook_deliveries_claim(delivery_ids=delivery_ids, lease_seconds=lease)
    if not claimed:
        return []
    rows = list(WebhookDelivery.objects.select_related("partner").filter(pk__in=claimed))
    # A batch is mostly one event for many partners: load and encode it once.
    events = Event.objects.select_related("blog").in_bulk({d.event_id for d in rows if d.event_id})
    bodies: dict[int | None, bytes] = {}
    for delivery in rows:
        if delivery.event_id is None:
            continue
        delivery.event = events[delivery.event_id]
        if delivery.event_id not in bodies:
            bodies[delivery.event_id] = payload_for(delivery)
    outgoing = [build(d, bodies[d.event_id] if d.event_id else None) for d in rows]
    results = _run(post_all(outgoing))
    records.webhook_attempts_record(results=results)
    _observe(rows, results)
    return results


def _observe(rows: list[WebhookDelivery], results: list[Result]) -> None:
    """Count each attempt per partner, and log the failures (the log line
    carries the request id of the request whose event this is). A partner's
    answer is not logged: it may echo the entry's text back."""
    partner_of = {d.pk: d.partner_id for d in rows}
    for result in results:
        partner = str(partner_of.get(result.delivery_id, ""))
        WEBHOOK_ATTEMPTS.labels(partner, "ok" if result.ok else "failed").inc()
        if not result.ok:
            log.info(
                "webhook attempt failed",
                extra={"delivery_id": result.delivery_id, "partner_id": partner, "status_code": result.status_code,
                       "error": "" if result.status_code else result.error[:200],
                       "duration_ms": result.duration_ms},
            )
