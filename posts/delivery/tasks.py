"""Celery tasks of delivery: thin, idempotent, keyed by ids, safe to run twice.

Beat runs :func:`sweep_task` every ``LIVEBLOG_SWEEP_SECONDS`` (see
``liveblog/celery.py``); the work is in :mod:`.fanout`, :mod:`.webhooks`,
:mod:`.push` and :mod:`.websub`. See docs/events.md.
"""

from __future__ import annotations

import logging
import time

import requests
from celery import current_app, shared_task
from django.conf import settings

from liveblog.metrics import FANOUT_SECONDS

from . import cache, counts, embeds, fanout, push, webhooks, websub

log = logging.getLogger(__name__)

# The domain task that stores a capture (posts/domain/tasks.py), by name.
STORE_EMBEDS_TASK = "posts.domain.tasks.store_embeds_task"


@shared_task(name="posts.delivery.tasks.fan_out_task", acks_late=True, ignore_result=True)
def fan_out_task(event_id: int) -> None:
    """Send one committed event everywhere (no-op once confirmed); the event
    is confirmed only after every follow-up task was enqueued."""
    started = time.perf_counter()
    work = fanout.fan_out(event_id)
    if work is None:
        return
    if settings.LIVEBLOG_CDN_PURGE_URL:
        purge_cdn_task.delay(work.slug)
    if settings.LIVEBLOG_WEBSUB_HUB:
        ping_hub_task.delay(work.slug)
    for batch in work.delivery_batches:
        deliver_webhooks_task.delay(batch)
    for batch in work.push_batches:
        send_push_task.delay(work.event_id, batch)
    fanout.confirm(work.event_id)
    seconds = time.perf_counter() - started
    FANOUT_SECONDS.observe(seconds)
    log.info(
        "fan-out confirmed",
        extra={"event_id": work.event_id, "blog": work.slug, "ms": round(seconds * 1000, 1),
               "webhook_batches": len(work.delivery_batches), "push_batches": len(work.push_batches)},
    )


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhooks_task(delivery_ids: list[int]) -> None:
    """POST a batch of webhook deliveries concurrently. Each is claimed
    first, so a delivery another worker holds (or has sent) is skipped;
    failures are rescheduled on the delivery row, not by Celery."""
    webhooks.deliver(delivery_ids)


@shared_task(acks_late=True, ignore_result=True)
def send_push_task(event_id: int, subscription_ids: list[int]) -> None:
    push.send_batch(event_id=event_id, subscription_ids=subscription_ids)


def _call_with_retry(task, call, what: str) -> None:
    """Run ``call``; on an HTTP failure retry with capped exponential backoff
    (in-process, where there is no broker to retry through, log and give up:
    the next event purges or pings again)."""
    try:
        call()
    except requests.RequestException as exc:
        if task.request.is_eager:
            log.warning("%s failed: %s", what, exc)
            return
        raise task.retry(exc=exc, countdown=min(300, 2 ** (task.request.retries + 1))) from exc


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=6)
def purge_cdn_task(self, slug: str, keys: list[str] | None = None) -> None:
    _call_with_retry(self, lambda: fanout.purge_cdn(slug, extra_keys=keys or ()), f"CDN purge for {slug}")


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=6)
def ping_hub_task(self, slug: str) -> None:
    _call_with_retry(self, lambda: websub.ping(slug), f"WebSub ping for {slug}")


@shared_task(name="posts.delivery.tasks.purge_blog_task", acks_late=True, ignore_result=True)
def purge_blog_task(slug: str, keys: list[str] | None = None) -> None:
    """Drop every cached read of a blog here and at the CDN (legal erase),
    with ``keys`` more to purge at the CDN (a photo taken down)."""
    cache.purge_blog_responses(slug)
    if settings.LIVEBLOG_CDN_PURGE_URL:
        purge_cdn_task.delay(slug, keys or [])


@shared_task(name="posts.delivery.tasks.forget_entry_fragments_task", acks_late=True, ignore_result=True)
def forget_entry_fragments_task(entry_id: int) -> None:
    """Delete the cached renderings of an entry taken down unpublished (its
    desk card); a published one's go with its ``entry.deleted`` fan-out."""
    cache.forget_entry_fragments(entry_id)


@shared_task(ignore_result=True)
def sweep_task() -> dict:
    """Re-enqueue unconfirmed events and due webhook deliveries."""
    events = fanout.unconfirmed_event_ids(older_than=settings.LIVEBLOG_SWEEP_GRACE_SECONDS)
    for event_id in events:
        fan_out_task.delay(event_id)
    deliveries = fanout.due_delivery_ids()
    for batch in fanout.chunked(deliveries, settings.LIVEBLOG_WEBHOOK_BATCH_SIZE):
        deliver_webhooks_task.delay(batch)
    return {"events": len(events), "deliveries": len(deliveries)}


@shared_task(name="posts.delivery.tasks.capture_embeds_task", acks_late=True, ignore_result=True,
             soft_time_limit=120)
def capture_embeds_task(entry_id: int) -> None:
    """Fetch what the providers show of an entry's embeds (at most
    MAX_EMBEDS_PER_ENTRY links, two requests each, LIVEBLOG_EMBED_TIMEOUT
    apiece) and hand it to the domain to store; nothing found, nothing
    stored: the link cards stay (docs/embeds.md)."""
    previews = embeds.capture(entry_id)
    if previews:
        current_app.tasks[STORE_EMBEDS_TASK].delay(entry_id, previews)


@shared_task(name="posts.delivery.tasks.poll_tallies_task", ignore_result=True)
def poll_tallies_task(poll_ids: list[int]) -> int:
    """Publish ``poll.updated`` for these polls (coalesced, at most once a
    second per poll) and send it to the partners who subscribed to it."""
    sent, deliveries = counts.publish_tallies(poll_ids)
    for batch in fanout.chunked(deliveries, settings.LIVEBLOG_WEBHOOK_BATCH_SIZE):
        deliver_webhooks_task.delay(batch)
    return len(sent)


@shared_task(ignore_result=True)
def reader_counts_task() -> dict:
    """Send "N reading now" to the blogs that show it (docs/polls.md)."""
    return counts.publish_reader_counts()
