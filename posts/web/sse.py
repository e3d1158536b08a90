"""``/live/<slug>/events``: the blog's event log as Server-Sent Events (an
async stream per reader), replay after ``Last-Event-ID`` and, behind nginx,
the hand-off of a resumed reader to Nchan. While a blog's readers are
switched to polling (posts.delivery.pushmode) a reader's stream answers 204
(the desk's keeps streaming); ``retry:`` is the pace's.
See docs/events.md#the-sse-endpoint."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, quote

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Max
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from liveblog.metrics import SSE_RESUMES
from posts.delivery import cache as cache_versions
from posts.delivery import channel, nchan, pushmode
from posts.delivery.frames import format_live, format_message, format_pace
from posts.domain.models import Blog, Event
from posts.web import caching

log = logging.getLogger(__name__)

REPLAY_BATCH = 500
# A reader ahead of Nchan (it read a seq the fan-out has not yet published
# there) waits this long for it, asking every HANDOFF_POLL seconds.
HANDOFF_WAIT = 2.0
HANDOFF_POLL = 0.05
# After a replay that ends so the reader comes back to be handed to Nchan.
HANDOFF_RETRY_MS = 100


_frames: dict[int, tuple[dict, bytes]] = {}


def _frame(message: dict) -> bytes:
    """``format_message``, once per published message however many readers
    share it (the channel hands every reader the same dict)."""
    cached = _frames.get(id(message))
    if cached is not None and cached[0] is message:
        return cached[1]
    frame = format_message(message)
    if len(_frames) > 256:
        _frames.clear()
    _frames[id(message)] = (message, frame)
    return frame


def _closing_connection(func):
    """Run ``func`` and close this thread's database connection after it.

    The stream's few queries run on asgiref's shared executor; closing keeps
    those threads from each holding a connection for the life of the process.
    """

    def wrapper(*args):
        try:
            return func(*args)
        finally:
            db_connection.close()

    return sync_to_async(wrapper, thread_sensitive=False)


def _cached_blog_row(slug: str) -> list | None:
    """``[blog id, status, creation time]``, ``[]`` for no such blog, or None
    when the cache does not know (tolerates a lost Redis)."""
    row = caching.cache_get(cache_versions.blog_state_key(slug))
    return row if row is not None and len(row) in (0, 3) else None


def _blog_state(slug: str) -> tuple[int, str, int, float] | None:
    """``(blog id, status, latest seq, creation time)`` without a query in the
    common case: id, status and creation time are cached briefly, the seq is
    the read side's (kept fresh by the fan-out's invalidation)."""
    key = cache_versions.blog_state_key(slug)
    row = _cached_blog_row(slug)
    if row is None:
        found = (
            Blog.objects.filter(slug=slug)
            .exclude(status=Blog.Status.DRAFT)
            .values_list("pk", "status", "created_at")
            .first()
        )
        row = [found[0], found[1], found[2].timestamp()] if found else []
        caching.cache_set(key, row, cache_versions.BLOG_STATE_TTL)
    if not row:
        return None
    seq = caching.current_seq(slug)
    return row[0], row[1], seq or 0, row[2]


def _events_after(blog_id: int, seq: int) -> list[dict]:
    return [
        {"seq": s, "type": t, **payload}
        for s, t, payload in Event.objects.filter(blog_id=blog_id, seq__gt=seq)
        .order_by("seq")
        .values_list("seq", "type", "payload")[:REPLAY_BATCH]
    ]


def _latest_seq(blog_id: int) -> int:
    return Blog.objects.filter(pk=blog_id).values_list("last_seq", flat=True).first() or 0


def _resync_nchan(order_key: str, slug: str, blog_id: int) -> bool:
    def last_confirmed() -> int:
        # Redis lost the last seq handed to Nchan: the fan-out's own start.
        return (
            Event.objects.filter(blog_id=blog_id, fanned_out_at__isnull=False).aggregate(last=Max("seq"))["last"]
            or 0
        )

    return channel.resync_nchan(order_key, slug, last_confirmed)


_blog_state_async = _closing_connection(_blog_state)
_pace_async = sync_to_async(pushmode.pace, thread_sensitive=False)
_latest_seq_async = _closing_connection(_latest_seq)
_events_after_async = _closing_connection(_events_after)


def _parse_last_id(request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    if raw in (None, ""):
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(raw)
    return int(raw)


class _Stream:
    """One reader's position in the log and the bytes owed to it."""

    def __init__(
        self,
        *,
        blog_id: int,
        slug: str,
        last_seq: int,
        closed: bool,
        counted: bool = True,
        replay_only: bool = False,
        retry_ms: int = 3000,
    ) -> None:
        self.blog_id = blog_id
        self.replay_only = replay_only
        self.retry_ms = retry_ms
        self.counted = counted
        self.slug = slug
        self.last_seq = last_seq
        self.closed_at_start = closed
        self.closed = False

    async def catch_up(self) -> AsyncIterator[bytes]:
        """Everything in the log after ``last_seq``, in order."""
        while True:
            batch = await _events_after_async(self.blog_id, self.last_seq)
            for message in batch:
                yield self.take(message)
            if len(batch) < REPLAY_BATCH:
                return

    def take(self, message: dict) -> bytes:
        self.last_seq = message["seq"]
        self.closed = message["type"] == Event.Type.BLOG_CLOSED
        return _frame(message)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.replay_only:
            # What was missed, then the end: the reader reconnects at once
            # with the last seq and is handed to Nchan.
            yield f"retry: {HANDOFF_RETRY_MS}\n: replay {self.slug}\n\n".encode()
            async for chunk in self.catch_up():
                yield chunk
            return
        reader = channel.subscribe(self.slug, counted=self.counted)
        try:
            yield f"retry: {self.retry_ms}\n: live {self.slug}\n\n".encode()
            async for chunk in self.catch_up():
                yield chunk
            if self.closed or self.closed_at_start:
                return
            heartbeat = settings.LIVEBLOG_SSE_HEARTBEAT_SECONDS
            while True:
                try:
                    message = reader.queue.get_nowait()
                except asyncio.QueueEmpty:
                    try:
                        message = await asyncio.wait_for(reader.get(), timeout=heartbeat)
                    except TimeoutError:
                        pace = await _pace_async(self.slug)
                        if self.counted and pace.mode == pushmode.POLL:
                            # The operator moved this blog's readers to polling.
                            yield format_pace(push=pace.mode, poll_ms=pace.poll_ms, retry_ms=pace.retry_ms)
                            return
                        yield b": heartbeat\n\n"
                        continue
                if message is not channel.RESYNC and "seq" not in message:
                    yield format_live(message)  # poll.updated, readers.now: no id, not in the log
                    continue
                if message is channel.RESYNC or message.get("seq", 0) > self.last_seq + 1:
                    async for chunk in self.catch_up():
                        yield chunk
                elif message["seq"] == self.last_seq + 1:
                    yield self.take(message)
                if self.closed:
                    return
        finally:
            channel.unsubscribe(reader)


@require_GET
async def live_events(request, slug: str):
    try:
        last_id = _parse_last_id(request)
    except ValueError:
        return JsonResponse({"detail": "Last-Event-ID must be an event seq (a whole number)."}, status=400)
    state = await _blog_state_async(slug)
    if state is None:
        raise Http404("No such live blog.")
    blog_id, status, latest, created = state
    if last_id is not None and last_id > latest:
        # The reader is ahead of the cached seq (another process moved it on
        # just now) or guesses: the database knows (one query, rare).
        latest = await _latest_seq_async(blog_id)
    last_seq = latest if last_id is None or last_id > latest else last_id
    closed = status == Blog.Status.CLOSED
    if closed and last_seq >= latest:
        return HttpResponse(status=204)
    # The desk listens with ?desk=1 so editors' reader counts are readers only.
    counted = request.GET.get("desk") != "1"
    pace = await _pace_async(slug)
    if pace.mode == pushmode.POLL and counted:
        # Overload control: readers poll /updates instead. 204 tells
        # EventSource to stop reconnecting; live.js then polls.
        response = HttpResponse(status=204)
        response["X-Push-Mode"] = pace.mode
        return response
    replay_only = False
    handoff = request.headers.get("X-Liveblog-Handoff")
    # Nchan would read a message id from these (they survive the internal
    # redirect) and fetch it, which it must never do for one it may not hold.
    conditional = "If-None-Match" in request.headers or "If-Modified-Since" in request.headers
    if handoff and last_id is not None and not closed and not conditional:
        target = await _hand_off(slug, last_id, channel.order_key(blog_id, created), blog_id)
        if isinstance(target, str):
            SSE_RESUMES.labels("handed_view").inc()
            # nginx keeps this Content-Type for what Nchan sends.
            response = HttpResponse(content_type="text/event-stream; charset=utf-8")
            response["X-Accel-Redirect"] = f"{handoff}{slug}?mid={quote(target, safe='')}"
            return response
        # Nchan cannot fill the gap: replay it here, then the reader comes
        # back. With nothing missed (Nchan stuck or nothing recorded), the
        # app streams as without nginx.
        if target is None and last_seq >= latest:
            # Nchan's records are past the reader while this process's cached
            # seq is not (a publish landed just now): the database knows.
            latest = await _latest_seq_async(blog_id)
        replay_only = target is None and last_seq < latest
        SSE_RESUMES.labels("replay" if replay_only else "app").inc()
        if not replay_only:
            log.warning("sse: a resume of %s after %s stays on the app (%r)", slug, last_id, target)
    stream = _Stream(
        blog_id=blog_id,
        slug=slug,
        last_seq=last_seq,
        closed=closed,
        counted=counted,
        replay_only=replay_only,
        retry_ms=pace.retry_ms,
    )
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"
    return response


_resume_after_async = sync_to_async(nchan.resume_after, thread_sensitive=False)
_resync_async = _closing_connection(_resync_nchan)
_resyncs: dict[tuple[int, str], asyncio.Future] = {}


async def _resync(order_key: str, slug: str, blog_id: int) -> bool:
    """One resync of ``slug`` at a time in this process: readers that all
    resume at once (a cut, a restarted nginx) share it instead of each
    waiting for the blog's channel lock in a thread of their own."""
    return await _shared(_resyncs, slug, lambda: _resync_async(order_key, slug, blog_id))


async def _shared(running: dict, slug: str, start):
    """Await the call ``start()`` makes for ``slug``, one at a time per event
    loop: callers arriving while it runs share its answer."""
    key = (id(asyncio.get_running_loop()), slug)
    future = running.get(key)
    if future is None or future.done():
        if len(running) > 1024:
            for done in [k for k, other in running.items() if other.done()]:
                del running[done]
        future = running[key] = asyncio.ensure_future(start())
    return await asyncio.shield(future)


async def _hand_off(slug: str, last_id: int, order_key: str, blog_id: int) -> object:
    """Nchan's message id to resume ``last_id`` after (no database query),
    or why not: an int when Nchan stayed behind the reader, None when what
    was missed is older than Nchan keeps, :data:`nchan.STALE` when Nchan holds
    nothing to resume after and cannot be given it (see
    :func:`nchan.resume_after`)."""
    target = await _resume_after_async(slug, last_id)
    if target is nchan.STALE and await _resync(order_key, slug, blog_id):
        target = await _resume_after_async(slug, last_id)
    # Ahead of Nchan (and maybe of this process's cached seq): the fan-out
    # has not published that far yet. A seq no event has (a client's guess)
    # waits too, then gets the app's stream, which knows better.
    deadline = time.monotonic() + HANDOFF_WAIT
    while isinstance(target, int) and time.monotonic() < deadline:
        await asyncio.sleep(HANDOFF_POLL)
        target = await _resume_after_async(slug, last_id)
    return target


# --- The resume hand-off's hot path, in front of Django ----------------------

EVENTS_PATH = re.compile(r"^/live/([-a-zA-Z0-9_]+)/events$")


def wrap(app):
    """``app`` with the common resume answered before Django.

    After an outage every reader resumes within a few seconds, each with its
    ``Last-Event-ID``, and almost every one is simply handed to Nchan. Through
    Django that is the middleware stack and four hops to worker threads per
    reader, and 2,000 of them held the app's two processes (and the desk's
    publishes behind them) for seconds (bench/faults.py). This answers exactly
    that case -- behind nginx's hand-off, a well-formed resume of a blog the
    cache knows, open and streaming, which Nchan can serve now -- with the
    same checks as :func:`live_events`, one cache round trip, no thread and
    no query.
    Everything else (a 404, a replay, a resync, a reader ahead of Nchan, the
    desk, polling mode, a cold cache) goes to Django unchanged.
    """

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            match = EVENTS_PATH.match(scope["path"])
            if match is not None:
                redirect = await _fast_handoff(scope, match.group(1))
                if redirect is not None:
                    SSE_RESUMES.labels("handed").inc()
                    await send({
                        "type": "http.response.start",
                        "status": 200,
                        # nginx keeps this Content-Type for what Nchan sends.
                        "headers": [
                            (b"content-type", b"text/event-stream; charset=utf-8"),
                            (b"x-accel-redirect", redirect.encode("latin-1")),
                            (b"content-length", b"0"),
                        ],
                    })
                    await send({"type": "http.response.body", "body": b""})
                    return None
        return await app(scope, receive, send)

    return wrapped


async def _fast_handoff(scope, slug: str) -> str | None:
    """The ``X-Accel-Redirect`` target for a resume Nchan can serve now, or
    None for Django to answer."""
    headers = dict(scope["headers"])
    handoff = headers.get(b"x-liveblog-handoff", b"").decode("latin-1")
    if not handoff or b"if-none-match" in headers or b"if-modified-since" in headers:
        return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("desk") == ["1"]:
        return None
    raw = headers.get(b"last-event-id", b"").decode("latin-1") or (query.get("last_event_id") or [""])[0]
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        return None  # none (a fresh stream reaches Django only without nginx) or the 400
    target = await _fast_target(slug, int(raw))
    return None if target is None else f"{handoff}{slug}?mid={quote(target, safe='')}"


async def _fast_target(slug: str, last_id: int) -> str | None:
    """What :func:`live_events` and :func:`_hand_off` decide, from one cache
    round trip on the event loop (no thread; under a mass resume each hop to
    a thread, and each round trip, cost the desk's publishes behind them)."""
    state_key, seq_key, records_key = (
        cache_versions.blog_state_key(slug), cache_versions.seq_key(slug), nchan.record_key(slug),
    )
    found = await cache_versions.cache_get_many_async([state_key, seq_key, records_key, *pushmode.keys(slug)])
    row, held = found.get(state_key), found.get(seq_key)
    if not row or len(row) != 3 or row[1] == Blog.Status.CLOSED or not held:
        return None  # no such blog, not cached, closed: the view knows
    if last_id > int(held[1]):
        return None  # ahead of this process's seq: the view asks the database
    if pushmode.pace_of(slug, found).mode == pushmode.POLL:
        return None
    records = found.get(records_key) or []
    if records and not nchan.held_recently(slug, records[-1][1]):
        # Whether Nchan holds the blog's latest message: asked once a second
        # per process, however many readers wait for the answer.
        await _ask_nchan(slug, records[-1][1])
    target = nchan.resume_after(slug, last_id, records, ask=False)
    return target if isinstance(target, str) else None


_holds_async = sync_to_async(nchan.holds, thread_sensitive=False)
_asking: dict[tuple[int, str], asyncio.Future] = {}


async def _ask_nchan(slug: str, message_id: str) -> None:
    await _shared(_asking, slug, lambda: _holds_async(slug, message_id))


