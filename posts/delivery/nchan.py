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

from . import pushmode
from .cache import CACHE_ERRORS
from .frames import format_message

log = logging.getLogger(__name__)

HEARTBEAT_CHANNEL = "heartbeat.all"
"""Every Nchan reader also subscribes to this channel (a slug cannot contain
a dot), so one publish sends a heartbeat comment to every open stream."""

_local = threading.local()


def enabled() -> bool:
    return bool(getattr(settings, "LIVEBLOG_NCHAN_PUBLISH_URL", ""))


def frame(message: dict, retry_ms: int | None = None) -> bytes:
    """The SSE frame for one event, less the blank line Nchan's separator adds."""
    retry = settings.LIVEBLOG_SSE_RETRY_MS if retry_ms is None else retry_ms
    return f"retry: {retry}\n".encode() + format_message(message)[:-1]


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
    gave this seq for the resume hand-off. A publish that fails may still
    have reached the readers (an edge killed mid-request answers 502 through
    the balancer in front, deploy/cluster): the channel's last message id,
    asked before and after, tells, so a retry never sends it twice. Raises
    :class:`OSError` if it did not go out (after one retry on a fresh
    connection), so the caller's task retries.
    """
    if not enabled():
        return
    body = frame(message, pushmode.pace(slug).retry_ms)
    try:
        before = last_message_id(slug)
    except OSError:
        before = _UNKNOWN  # then a failed publish is retried blind
    for attempt in (1, 2):
        try:
            message_id = post(slug, body, retry=False)
            break
        except OSError:
            message_id = _landed(slug, before)
            if message_id:
                log.warning("nchan: a failed publish of %s#%s had gone out; not sent again", slug, message["seq"])
                break
            if attempt == 2:
                raise
    if message_id:
        _record(slug, int(message["seq"]), message_id)


_UNKNOWN = "?"


def last_message_id(channel: str) -> str | None:
    """Nchan's id of the last message published to ``channel`` (None when
    nothing was); kept even when Nchan keeps no messages (buffer length 0).
    Raises :class:`OSError` when Nchan cannot be asked."""
    base = urlsplit(settings.LIVEBLOG_NCHAN_PUBLISH_URL)
    conn = http.client.HTTPConnection(base.hostname, base.port or 80, timeout=5)
    try:
        conn.request("GET", f"{base.path.rstrip('/')}/{quote(channel, safe='')}", headers={"Accept": "text/json"})
        response = conn.getresponse()
        body = response.read()
    except http.client.HTTPException as exc:
        raise OSError(f"Nchan's channel info for {channel}: {exc}") from exc
    finally:
        conn.close()
    if response.status == 404:
        return None
    if response.status != 200:
        raise OSError(f"Nchan's channel info for {channel}: HTTP {response.status}")
    try:
        return str(json.loads(body).get("last_message_id") or "") or None
    except ValueError as exc:
        raise OSError(f"Nchan's channel info for {channel} is not JSON") from exc


def _landed(slug: str, before: str | None) -> str | None:
    """The id of a message that reached ``slug`` since ``before`` was read."""
    if before == _UNKNOWN:
        return None
    try:
        after = last_message_id(slug)
    except OSError:
        return None
    return after if after and after != before else None


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


def heartbeat() -> None:
    post(HEARTBEAT_CHANNEL, b": heartbeat\n")


def post(channel: str, body: bytes, *, retry: bool = True) -> str:
    """Publish ``body`` to ``channel``; Nchan's id for the message. With
    ``retry``, a failure is retried once on a fresh connection (a kept-alive
    one the server had closed), which may send it twice: :func:`publish`
    checks instead."""
    base = urlsplit(settings.LIVEBLOG_NCHAN_PUBLISH_URL)
    path = f"{base.path.rstrip('/')}/{quote(channel, safe='')}"
    headers = {"Content-Type": "text/event-stream", "Accept": "text/json"}
    for attempt in (1, 2):
        conn = _connection(base.hostname, base.port or 80)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            reply = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            _local.conn = None
            if attempt == 2 or not retry:
                raise OSError(f"Nchan publish to {channel} failed: {exc}") from exc
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
