"""From a committed event to every reader, partner and device: the work of
one fan-out and of the sweep, each step idempotent per (event, target).
See docs/events.md."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from posts.domain.models import Entry, Event, PushSubscription, WebhookDelivery

from . import cache, channel, outbound, records

log = logging.getLogger(__name__)

SWEEP_LIMIT = 500


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
    """Readers are woken for a newly published key event or closing note,
    and for the start of a blog they waited for (``blog.opened``)."""
    if event.type == Event.Type.BLOG_OPENED:
        return True
    if event.type != Event.Type.ENTRY_PUBLISHED:
        return False
    entry = event.payload.get("entry") or {}
    return bool(entry.get("key_event")) or entry.get("kind") == Entry.Kind.CLOSING


@dataclass
class FanOut:
    """What is left to enqueue for one event once the live channel and
    caches have it; :func:`posts.delivery.tasks.fan_out_task` enqueues it,
    then confirms the event."""

    event_id: int
    slug: str
    delivery_batches: list[list[int]] = field(default_factory=list)
    push_batches: list[list[int]] = field(default_factory=list)


def fan_out(event_id: int) -> FanOut | None:
    """Publish one event to the live channel and caches and create its
    webhook deliveries; None if there is no such event or it was already
    confirmed."""
    event = Event.objects.select_related("blog").filter(pk=event_id).first()
    if event is None or event.fanned_out_at is not None:
        return None
    slug = event.blog.slug
    publish_live(event)
    cache.invalidate_blog(slug=slug, seq=event.seq)
    if event.type in (Event.Type.BLOG_UPDATED, Event.Type.BLOG_CLOSED, Event.Type.BLOG_OPENED):
        cache.forget_blog_state(slug)
    if event.type == Event.Type.ENTRY_DELETED:  # a takedown: no stored copy may outlive it
        cache.forget_entry_fragments((event.payload.get("entry") or {}).get("id", 0))
        cache.purge_blog_responses(slug)
    work = FanOut(event_id=event.pk, slug=slug)
    delivery_ids = records.webhook_deliveries_create(event=event)
    work.delivery_batches = list(chunked(delivery_ids, settings.LIVEBLOG_WEBHOOK_BATCH_SIZE))
    if is_push_worthy(event):
        subscribers = (
            PushSubscription.objects.filter(blog_id=event.blog_id, last_event_id__lt=event.pk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        # Batch size of 100: one task's pywebpush calls, ~8 in flight at once.
        work.push_batches = list(chunked(list(subscribers), 100))
    return work


def publish_live(event: Event) -> None:
    """Hand the event to the live channel in the blog's seq order.

    Fan-outs run concurrently (several workers, the sweep, retries), so
    under the blog's channel lock this publishes every seq after the last
    one handed over, up to this one, from the event log (a lower seq is
    committed whenever a higher one is: seqs are taken under the blog's
    row lock), and nothing already handed over. Nchan readers get frames
    in the order published; the app's stream reorders but need not. When
    the last handed seq is unknown (a blog's first publish, or Redis lost
    it), it starts after the highest confirmed seq: nothing is skipped, and
    after a loss of Redis a seq may go out twice (readers drop seqs they
    already have).
    """
    blog = event.blog
    with channel.in_order(channel.order_key(blog.pk, blog.created_at.timestamp())) as handed:
        if handed.seq is None:
            handed.seq = (
                Event.objects.filter(blog_id=blog.pk, seq__lt=event.seq, fanned_out_at__isnull=False)
                .aggregate(last=Max("seq"))["last"]
                or 0
            )
        if event.seq <= handed.seq:
            return
        if handed.seq < event.seq - 1:
            missed = Event.objects.filter(
                blog_id=event.blog_id, seq__gt=handed.seq, seq__lt=event.seq
            ).order_by("seq")
            for earlier in missed:
                handed.keep()
                channel.publish(blog.slug, earlier.message)
                handed.seq = earlier.seq
        handed.keep()
        channel.publish(blog.slug, event.message)
        handed.seq = event.seq


def confirm(event_id: int) -> None:
    records.event_mark_fanned_out(event_id=event_id)


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


# --- CDN -------------------------------------------------------------------------


def purge_urls() -> list[str]:
    """The purge URLs of ``LIVEBLOG_CDN_PURGE_URL``: one, or several
    separated by spaces or commas (one per cache node)."""
    return settings.LIVEBLOG_CDN_PURGE_URL.replace(",", " ").split()


def purge_cdn(slug: str, *, extra_keys=()) -> None:
    """Purge the blog's surrogate key (and the blog lists') at the CDN.

    ``LIVEBLOG_CDN_PURGE_URL`` with ``{key}`` gets one POST per key with the
    key in the path (Fastly style); without it, one POST carrying the keys
    in a ``Surrogate-Key`` header. With several URLs (a cache per node, as in
    deploy/cluster) every one is purged, each attempted even if another
    failed; then it raises if any failed, so the task retries (a purge is
    idempotent: the nodes already purged lose nothing but a cache fill).
    Through :mod:`.outbound`: a purge endpoint on a private address needs
    ``LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE=1``.
    """
    client = outbound.session()
    keys = [cache.surrogate_key(slug), cache.BLOGS_SURROGATE_KEY, *extra_keys]
    headers = {"User-Agent": "liveblog-cdn-purge"}
    if settings.LIVEBLOG_CDN_PURGE_TOKEN:
        headers["Authorization"] = f"Bearer {settings.LIVEBLOG_CDN_PURGE_TOKEN}"
    failed: list[requests.RequestException] = []
    for url in purge_urls():
        try:
            if "{key}" in url:
                for key in keys:
                    outbound.raise_for_status(client.post(url.replace("{key}", key), headers=headers, timeout=10))
            else:
                outbound.raise_for_status(
                    client.post(url, headers={**headers, "Surrogate-Key": " ".join(keys)}, timeout=10)
                )
        except requests.RequestException as exc:
            log.warning("CDN purge of %s at %s failed: %s", slug, url, exc)
            failed.append(exc)
    if failed:
        raise failed[0]
