"""Publishing each event's SSE frame to nginx's Nchan (production profile),
recording Nchan's message id per seq for the resume hand-off (and checking
Nchan still holds it before a reader is handed over), and reading Nchan's
reader counts. See docs/events.md#nchan and deploy/README.md."""

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
from .frames import format_live, format_message

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
# messages, 300 s); the hand-off serves from it fewer than HANDOFF_MESSAGES,
# and never across a takedown (WITHDRAWING: what Nchan holds before it may
# carry the deleted entry's text; the event log's replay carries tombstones).
HANDOFF_MESSAGES = 32
WITHDRAWING = frozenset({"entry.deleted"})
# (seq, Nchan message id, withdraws) records kept per blog, newest last.
RECORD_LENGTH = HANDOFF_MESSAGES + 1
RECORD_TTL = 7 * 86400
# nchan_message_timeout of the blogs' channels. A message id is handed to
# Nchan only while its message is younger than KEEP_TRUSTED: Debian's Nchan
# 1.3.6 aborts a worker when readers resume from an id it no longer holds
# (deploy/README.md, "The resume hand-off").
KEEP_SECONDS = 300
KEEP_TRUSTED = KEEP_SECONDS - 30
# Nchan was seen holding a blog's latest message this recently (per process):
# resumes within it are handed over without asking again.
HELD_CACHE_SECONDS = 1.0
RESYNC_COMMENT = b": resume\n"
# Seconds per request to Nchan's publisher (loopback, or the cluster's
# balancer): it answers in milliseconds; the channel lock outlasts four.
PUBLISH_TIMEOUT = 2


class _Stale:
    """:func:`resume_after`'s answer when Nchan does not hold the blog's latest
    recorded message (it expired, nginx restarted, the worker that owned the
    channel died, or nothing is recorded): :func:`posts.delivery.channel.resync_nchan`
    gives Nchan a message to resume after."""

    def __repr__(self) -> str:
        return "STALE"


STALE = _Stale()
_held: dict[str, tuple[str, float]] = {}


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

    A publisher killed after Nchan took the message but before the fan-out
    noted it (a Celery worker's kill -9: the fault drill) leaves a *pending*
    note, (seq, Nchan's last id before the post); the next publish of that
    seq finds Nchan's last id moved on (only the lock's holder publishes to
    the channel) and records it instead of sending the message again.
    """
    if not enabled():
        return
    body = frame(message, pushmode.pace(slug).retry_ms)
    seq = int(message["seq"])
    try:
        before = last_message_id(slug)
    except OSError:
        before = _UNKNOWN  # then a failed publish is retried blind
    if before not in (_UNKNOWN, None) and _sent_before(slug, seq, before):
        log.warning("nchan: %s#%s had reached Nchan before its publisher died; not sent again", slug, seq)
        _record(slug, seq, before, withdraws=message.get("type") in WITHDRAWING)
        _clear_pending(slug)
        return
    _note_pending(slug, seq, before)
    held = 0
    for attempt in (1, 2):
        try:
            message_id, held = post(slug, body, retry=False)
            break
        except OSError:
            message_id = _landed(slug, before)
            if message_id:
                log.warning("nchan: a failed publish of %s#%s had gone out; not sent again", slug, message["seq"])
                held = 0  # how many the channel holds is unknown: keep the records
                break
            if attempt == 2:
                raise
    if not message_id:
        return
    if held == 1:
        # Nchan holds only this message: what it held before expired or was
        # lost (a restart, a dead worker), so older records no longer resume.
        # A reader holding the seq before (the fan-out publishes in seq
        # order) resumes after any id older than this one: Nchan sends its
        # first message, this one.
        _record(slug, seq - 1, _id_before(message_id), fresh=True)
    _record(slug, seq, message_id, withdraws=message.get("type") in WITHDRAWING)
    _clear_pending(slug)


_UNKNOWN = "?"


def _pending_key(slug: str) -> str:
    return f"nchan-pending:{slug}"


def _note_pending(slug: str, seq: int, before: str | None) -> None:
    """Only a publish that died leaves its note (a finished one clears it);
    the task runs again within seconds (the sweep), well inside KEEP_SECONDS."""
    try:
        cache.set(_pending_key(slug), (seq, before), KEEP_SECONDS)
    except CACHE_ERRORS:
        pass  # then a publisher's death may send this seq twice, as before


def _clear_pending(slug: str) -> None:
    try:
        cache.delete(_pending_key(slug))
    except CACHE_ERRORS:
        pass


def _sent_before(slug: str, seq: int, now_last: str) -> bool:
    """Did a publish of ``seq`` reach Nchan and die before finishing?"""
    try:
        pending = cache.get(_pending_key(slug))
    except CACHE_ERRORS:
        return False
    return bool(pending) and pending[0] == seq and pending[1] not in (_UNKNOWN,) and pending[1] != now_last


def last_message_id(channel: str) -> str | None:
    """Nchan's id of the last message published to ``channel`` (None when
    nothing was); kept even when Nchan keeps no messages (buffer length 0).
    Raises :class:`OSError` when Nchan cannot be asked."""
    info = channel_info(channel)
    if info is None:
        return None
    return str(info.get("last_message_id") or "") or None


def _landed(slug: str, before: str | None) -> str | None:
    """The id of a message that reached ``slug`` since ``before`` was read."""
    if before == _UNKNOWN:
        return None
    try:
        after = last_message_id(slug)
    except OSError:
        return None
    return after if after and after != before else None


def resync(slug: str, seq: int) -> str:
    """Publish a comment to ``slug``'s Nchan readers and record its id as the
    point to resume after for a reader holding ``seq``, forgetting older
    records. Only under the blog's channel lock with ``seq`` the last seq
    handed to Nchan (:func:`posts.delivery.channel.resync_nchan`): the next
    message Nchan gets after the comment is then ``seq + 1``."""
    message_id, _held_count = post(slug, RESYNC_COMMENT)
    if not message_id:
        raise OSError(f"Nchan gave no message id for the resync of {slug}")
    _record(slug, seq, message_id, fresh=True)
    # Nchan's last id moved on for the comment, not for a pending publish.
    _note_pending(slug, seq, message_id)
    return message_id


def _record(slug: str, seq: int, message_id: str, *, fresh: bool = False, withdraws: bool = False) -> None:
    """Never fails the publish: without a record the hand-off replays from
    the event log instead."""
    try:
        records = [] if fresh else cache.get(record_key(slug)) or []
        if records and seq <= records[-1][0]:
            records = []  # a new blog under a used slug starts again at seq 1
        records = [*records, (seq, message_id, withdraws)][-RECORD_LENGTH:]
        cache.set(record_key(slug), records, RECORD_TTL)
    except CACHE_ERRORS:
        log.warning("nchan: could not record message %s of %s#%s", message_id, slug, seq)


def resume_after(slug: str, seq: int, records: list | None = None, *, ask: bool = True) -> str | int | _Stale | None:
    """Where Nchan can resume a reader that holds every event up to ``seq``.

    A message id (``<time>:<tag>``) that Nchan holds: it sends what it
    published after it, then live. An int: ask again shortly (the reader is
    ahead of what Nchan has been given, or Nchan has a message not yet
    recorded). :data:`STALE`: Nchan does not hold the blog's latest recorded
    message; resync first. None: Nchan cannot fill the gap (what is missing
    is older than the hand-off serves from it, or a takedown is among it):
    replay from the event log.

    How old the missed messages are does not matter while Nchan holds them
    (KEEP_TRUSTED): after an outage every reader resumes seconds late, and
    a time window would send them all to the app's replay (a second request
    each, the herd the fault drill measures). Only a takedown limits it.

    ``records``: the value of :func:`record_key` when the caller read it
    along with other keys (None: read it here). ``ask=False``: never ask
    Nchan's publisher (a request) whether it holds the latest message; unless
    this process knows from the last HELD_CACHE_SECONDS, answer the int.
    """
    if records is None:
        try:
            records = cache.get(record_key(slug)) or []
        except CACHE_ERRORS:
            return None
    if not records:
        return STALE
    latest, latest_id = records[-1][:2]
    if seq > latest:
        return latest
    now = time.time()
    if now - _id_time(latest_id) > KEEP_TRUSTED:
        return STALE
    for index, (recorded, message_id, *_) in enumerate(records):
        if recorded != seq:
            continue
        # Records written before takedowns were marked have two fields.
        withdrawn = any(len(record) > 2 and record[2] for record in records[index + 1:])
        if withdrawn or latest - seq >= HANDOFF_MESSAGES or now - _id_time(message_id) > KEEP_TRUSTED:
            # Nchan holds every message newer than the reader's only while
            # the reader's own is younger than it keeps them.
            return None
        held = holds(slug, latest_id, ask=ask)
        if held is None:
            return latest
        return message_id if held else STALE
    return None


def held_recently(slug: str, message_id: str) -> bool:
    """This process saw Nchan hold ``message_id`` as ``slug``'s latest
    message within HELD_CACHE_SECONDS."""
    seen = _held.get(slug)
    return seen is not None and seen[0] == message_id and time.monotonic() - seen[1] < HELD_CACHE_SECONDS


def holds(slug: str, message_id: str, *, ask: bool = True) -> bool | None:
    """Does Nchan hold ``message_id`` as ``slug``'s latest message? None: it
    has a newer one (the fan-out is recording it), or (``ask=False``) this
    process does not know without asking. One request to the publisher,
    remembered for HELD_CACHE_SECONDS in this process."""
    if held_recently(slug, message_id):
        return True
    if not ask:
        return None
    try:
        info = channel_info(slug)
    except (OSError, http.client.HTTPException, ValueError):
        return False
    last = str(info.get("last_message_id") or "") if info else ""
    if last == message_id and int(info.get("messages") or 0) > 0:
        if len(_held) > 1024:
            _held.clear()
        _held[slug] = (message_id, time.monotonic())
        return True
    if last and _id_key(last) > _id_key(message_id):
        return None
    return False


def _id_key(message_id: str) -> tuple[int, int]:
    when, _, tag = message_id.partition(":")
    try:
        return int(when), int(tag.strip("[]") or 0)
    except ValueError:
        return 0, 0


def _id_time(message_id: str) -> int:
    return _id_key(message_id)[0]


def _id_before(message_id: str) -> str:
    """An id older than ``message_id`` and than anything after it."""
    return f"{_id_time(message_id) - 1}:0"


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


def post(channel: str, body: bytes, *, retry: bool = True) -> tuple[str, int]:
    """Publish ``body`` to ``channel``: Nchan's id for the message and how
    many messages the channel now holds. With ``retry``, a failure is retried
    once on a fresh connection (a kept-alive one the server had closed),
    which may send it twice: :func:`publish` checks instead."""
    reply = _request("POST", channel, body, retry=retry)
    if reply is None:
        raise OSError(f"Nchan has no channel {channel} after a publish")
    return str(reply.get("last_message_id") or ""), int(reply.get("messages") or 0)


def channel_info(channel: str) -> dict | None:
    """Nchan's answer about ``channel`` (``messages``, ``subscribers``,
    ``last_message_id``), None when it has no such channel."""
    return _request("GET", channel)


def _request(method: str, channel: str, body: bytes | None = None, *, retry: bool = True) -> dict | None:
    base = urlsplit(settings.LIVEBLOG_NCHAN_PUBLISH_URL)
    path = f"{base.path.rstrip('/')}/{quote(channel, safe='')}"
    headers = {"Accept": "text/json"}
    if body is not None:
        headers["Content-Type"] = "text/event-stream"
    for attempt in (1, 2):
        conn = _connection(base.hostname, base.port or 80)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            reply = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            _local.conn = None
            if attempt == 2 or not retry:
                raise OSError(f"Nchan {method} of {channel} failed: {exc}") from exc
            continue
        if response.status == 404:
            return None
        if response.status >= 300:
            raise OSError(f"Nchan refused the {method} of {channel}: HTTP {response.status}")
        try:
            return json.loads(reply)
        except ValueError:
            return {}
    raise AssertionError("unreachable")


def _connection(host: str, port: int) -> http.client.HTTPConnection:
    conn = getattr(_local, "conn", None)
    if conn is None or (conn.host, conn.port) != (host, port):
        conn = http.client.HTTPConnection(host, port, timeout=PUBLISH_TIMEOUT)
        _local.conn = conn
    return conn


def reader_count(slug: str) -> int:
    """Readers Nchan holds for ``slug`` now (0 when Nchan is not used or
    cannot be asked: a count is informative, never fatal)."""
    if not enabled():
        return 0
    try:
        info = channel_info(slug)
    except (OSError, http.client.HTTPException):
        return 0
    try:
        return int((info or {}).get("subscribers", 0))
    except (TypeError, ValueError):
        return 0
