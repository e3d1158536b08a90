"""Publishing each event's SSE frame to nginx's Nchan (production profile),
recording Nchan's message id per seq for the resume hand-off, and reading
Nchan's reader counts. See docs/events.md#nchan."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.cache import cache

from .cache import CACHE_ERRORS
from .frames import format_live, format_message

log = logging.getLogger(__name__)

HEARTBEAT_CHANNEL = "heartbeat.all"
"""Every Nchan reader also subscribes to this channel (a slug cannot contain
a dot), so one publish sends a heartbeat comment to every open stream."""

_local = threading.local()


def enabled() -> bool:
    return bool(getattr(settings, "LIVEBLOG_NCHAN_PUBLISH_URL", ""))


def frame(message: dict) -> bytes:
    """The SSE frame for one event, less the blank line Nchan's separator adds."""
    return f"retry: {settings.LIVEBLOG_SSE_RETRY_MS}\n".encode() + format_message(message)[:-1]


# What Nchan keeps of a blog's channel (deploy/nginx.conf.template: 64
# messages, 10 s); the hand-off serves from it only what is younger than
# HANDOFF_WINDOW and fewer than HANDOFF_MESSAGES, well inside both limits.
HANDOFF_WINDOW = 5.0
HANDOFF_MESSAGES = 32
# (seq, Nchan message id) pairs kept per blog, newest last.
RECORD_LENGTH = HANDOFF_MESSAGES + 1
RECORD_TTL = 7 * 86400


def record_key(slug: str) -> str:
    return f"nchan-ids:{slug}"


def publish(slug: str, message: dict) -> None:
    """Send one event to every Nchan reader of ``slug``; no-op when disabled.

    Called in the blog's seq order, under its channel lock
    (:func:`posts.delivery.fanout.publish_live`); records the message id Nchan
    gave this seq for the resume hand-off. Raises :class:`OSError` if Nchan
    cannot be reached (after one retry on a fresh connection), so the
    caller's task retries.
    """
    if not enabled():
        return
    message_id = post(slug, frame(message))
    if message_id:
        _record(slug, int(message["seq"]), message_id)


def _record(slug: str, seq: int, message_id: str) -> None:
    """Never fails the publish: without a record the hand-off replays from
    the event log instead."""
    try:
        records = cache.get(record_key(slug)) or []
        if records and seq <= records[-1][0]:
            records = []  # a new blog under a used slug starts again at seq 1
        records = [*records, (seq, message_id)][-RECORD_LENGTH:]
        cache.set(record_key(slug), records, RECORD_TTL)
    except CACHE_ERRORS:
        log.warning("nchan: could not record message %s of %s#%s", message_id, slug, seq)


def resume_after(slug: str, seq: int) -> str | int | None:
    """Where Nchan can resume a reader that holds every event up to ``seq``.

    A message id (``<time>:<tag>``): Nchan sends what it published after it,
    then live. An int: Nchan has published only up to that seq so far (the
    reader is ahead of it; ask again shortly). None: Nchan cannot fill the
    gap (what is missing is older than its buffer, or nothing is recorded):
    replay from the event log first.
    """
    try:
        records = cache.get(record_key(slug)) or []
    except CACHE_ERRORS:
        return None
    if not records:
        return None
    latest = records[-1][0]
    if seq > latest:
        return latest
    now = time.time()
    for index, (recorded, message_id) in enumerate(records):
        if recorded != seq:
            continue
        if recorded == latest:
            return message_id
        # The oldest message Nchan must still hold: the one after ``seq``.
        following = records[index + 1][1]
        young = now - int(following.split(":", 1)[0]) < HANDOFF_WINDOW
        return message_id if young and latest - seq < HANDOFF_MESSAGES else None
    return None


def live_channel(slug: str) -> str:
    """The Nchan channel of a blog's live-only messages: every reader of the
    blog subscribes to it too; it keeps nothing (deploy/nginx.conf.template)."""
    return f"now.{slug}"


def publish_live(slug: str, message: dict) -> None:
    """Send a live-only message (no seq) to the blog's Nchan readers; no-op
    when disabled. Kept out of the blog's own channel so its buffer (the
    resume hand-off's) holds only the event log's messages."""
    if enabled():
        post(live_channel(slug), format_live(message)[:-1])


def heartbeat() -> None:
    post(HEARTBEAT_CHANNEL, b": heartbeat\n")


def post(channel: str, body: bytes) -> str:
    """Publish ``body`` to ``channel``; Nchan's id for the message."""
    base = urlsplit(settings.LIVEBLOG_NCHAN_PUBLISH_URL)
    path = f"{base.path.rstrip('/')}/{quote(channel, safe='')}"
    headers = {"Content-Type": "text/event-stream", "Accept": "text/json"}
    for attempt in (1, 2):
        conn = _connection(base.hostname, base.port or 80)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            reply = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            _local.conn = None
            if attempt == 2:
                raise
            continue
        if response.status >= 300:
            raise OSError(f"Nchan refused the publish to {channel}: HTTP {response.status}")
        try:
            return str(json.loads(reply).get("last_message_id") or "")
        except ValueError:
            return ""
    raise AssertionError("unreachable")


def _connection(host: str, port: int) -> http.client.HTTPConnection:
    conn = getattr(_local, "conn", None)
    if conn is None or (conn.host, conn.port) != (host, port):
        conn = http.client.HTTPConnection(host, port, timeout=5)
        _local.conn = conn
    return conn


def reader_count(slug: str) -> int:
    """Readers Nchan holds for ``slug`` now (0 when Nchan is not used or
    cannot be asked: a count is informative, never fatal)."""
    if not enabled():
        return 0
    base = urlsplit(settings.LIVEBLOG_NCHAN_PUBLISH_URL)
    conn = _connection(base.hostname, base.port or 80)
    try:
        conn.request("GET", f"{base.path.rstrip('/')}/{quote(slug, safe='')}", headers={"Accept": "text/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return 0
        return int(json.loads(body).get("subscribers", 0))
    except (OSError, http.client.HTTPException, ValueError):
        conn.close()
        _local.conn = None
        return 0
