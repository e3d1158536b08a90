"""Live-only messages: poll tallies (``poll.updated``) and "N reading now"
(``readers.now``). Sent to open readers without a seq, never stored in the
event log, never moving the blog's cache version: counts change far too
often to be events. See docs/polls.md."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from django.core.cache import cache

from posts.domain import selectors
from posts.domain.models import Poll
from posts.domain.serializers import poll_tally_dict

from . import channel, records
from .cache import CACHE_ERRORS

log = logging.getLogger(__name__)

# At most one poll.updated a second per poll, however many flushes run.
TALLY_EVERY_SECONDS = 1
# "N reading now" is sent when it changes, and at least this often, so a
# reader who joined while it held still (or a Nchan reader) gets it.
READERS_RESEND_SECONDS = 10


def _claim(key: str, seconds: int) -> bool:
    try:
        return bool(cache.add(key, 1, timeout=seconds))
    except CACHE_ERRORS:
        return True  # without the cache, send: a second message is harmless


def publish_tallies(poll_ids: list[int]) -> tuple[list[dict], list[int]]:
    """Publish each poll's current tallies to its blog's readers and owe them
    to the partners who subscribed to ``poll.updated``; returns the messages
    sent and the webhook deliveries due now (the task enqueues them).

    Coalesced: a poll whose tallies went out less than a second ago waits
    for that second to end, then sends only if nobody else sent since (a
    message sent after this call began already carries what it would)."""
    sent: list[dict] = []
    deliveries: list[int] = []
    for poll_id in poll_ids:
        key = f"poll-tally:{poll_id}"
        if not _claim(key, TALLY_EVERY_SECONDS):
            time.sleep(TALLY_EVERY_SECONDS)
            if not _claim(key, TALLY_EVERY_SECONDS):
                continue
        poll = Poll.objects.select_related("entry__blog").prefetch_related("options").filter(pk=poll_id).first()
        if poll is None or not poll.entry.is_published:
            continue
        blog = poll.entry.blog
        message = poll_tally_dict(poll, votes=selectors.poll_tallies(poll), slug=blog.slug)
        channel.publish_live(blog.slug, message)
        deliveries += _webhooks(blog.pk, message)
        sent.append(message)
    return sent, deliveries


def _webhooks(blog_id: int, message: dict) -> list[int]:
    tally = message["poll"]
    body = {
        "type": message["type"],
        "timestamp": datetime.now(tz=UTC).isoformat().replace("+00:00", "Z"),
        "blog": message["blog"],
        "data": message,
    }
    # The tallies only grow, so (total, closed) names this state of the poll.
    key = f"poll_{tally['id']}_{tally['total']}_{int(tally['closed'])}"
    return records.webhook_live_deliveries_create(blog_id=blog_id, body=body, key=key)


def publish_reader_counts() -> dict[str, int]:
    """Send ``readers.now`` to blogs that show it, when the count changed
    (or every few seconds); returns what was sent."""
    sent = {}
    for slug in selectors.blogs_showing_reader_count():
        readers = channel.reader_count(slug)
        key = f"readers-now:{slug}"
        try:
            last = cache.get(key)
        except CACHE_ERRORS:
            last = None
        now = time.time()
        if last is not None and last[0] == readers and now - last[1] < READERS_RESEND_SECONDS:
            continue
        channel.publish_live(slug, {"type": "readers.now", "readers": readers})
        try:
            cache.set(key, (readers, now), timeout=READERS_RESEND_SECONDS * 6)
        except CACHE_ERRORS:
            pass
        sent[slug] = readers
    return sent
