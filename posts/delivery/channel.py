"""The live channel: every open reader of a blog in this process, fed by the
fan-out, in-process or through one Redis pub/sub subscription per process.
Over 400 lines because the hub, both backends and the reader bookkeeping
share one locking discipline. See docs/events.md#the-live-channel."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson
from django.conf import settings

from . import nchan
from .cache import CACHE_ERRORS

log = logging.getLogger(__name__)

RESYNC = {"resync": True}
"""Queued to a reader when it may have missed messages: replay from the log."""

READER_QUEUE_SIZE = 1000
COUNT_REFRESH_SECONDS = 15
COUNT_STALE_SECONDS = 60


@dataclass(eq=False)
class Reader:
    """One open connection's inbox, bound to the loop that serves it."""

    slug: str
    loop: asyncio.AbstractEventLoop
    # Desks listen too but are not readers: they are left out of the count.
    counted: bool = True
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(READER_QUEUE_SIZE))

    def put(self, item: dict) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._put(item)
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: dict) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    async def get(self) -> dict:
        return await self.queue.get()


class _Hub:
    """This process's open readers, by blog slug."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers: dict[str, set[Reader]] = {}
        self.changed: set[str] = set()

    def add(self, reader: Reader) -> None:
        with self._lock:
            self._readers.setdefault(reader.slug, set()).add(reader)
            self.changed.add(reader.slug)

    def remove(self, reader: Reader) -> None:
        with self._lock:
            readers = self._readers.get(reader.slug)
            if readers is not None:
                readers.discard(reader)
                if not readers:
                    del self._readers[reader.slug]
            self.changed.add(reader.slug)

    def count(self, slug: str) -> int:
        with self._lock:
            return sum(r.counted for r in self._readers.get(slug, ()))

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {slug: sum(r.counted for r in readers) for slug, readers in self._readers.items()}

    def take_changed(self) -> set[str]:
        with self._lock:
            changed, self.changed = self.changed, set()
            return changed

    def deliver(self, slug: str, message: dict) -> None:
        with self._lock:
            readers = list(self._readers.get(slug, ()))
        _put_many(readers, message)

    def deliver_all(self, message: dict) -> None:
        with self._lock:
            readers = [r for group in self._readers.values() for r in group]
        _put_many(readers, message)


def _put_many(readers: list[Reader], message: dict) -> None:
    """One wake-up per event loop, not one per reader: a thousand readers on
    one server loop cost one ``call_soon_threadsafe``."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Reader]] = {}
    for reader in readers:
        by_loop.setdefault(reader.loop, []).append(reader)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, group in by_loop.items():
        if loop is running:
            _put_each(group, message)
        elif not loop.is_closed():
            try:
                loop.call_soon_threadsafe(_put_each, group, message)
            except RuntimeError:  # the loop closed meanwhile
                pass


def _put_each(readers: list[Reader], message: dict) -> None:
    for reader in readers:
        reader._put(message)


hub = _Hub()


# --- Backends ----------------------------------------------------------------


@dataclass
class Handed:
    """The last seq of one blog handed to the live channel (None: not known,
    e.g. Redis lost it), read and moved under that blog's channel lock.
    :meth:`keep` before each publish: the lock is held for as long as the
    publishes take, and frees soon after a holder dies."""

    seq: int | None
    keep: Callable[[], object] = lambda: None


# A fan-out holds a blog's channel lock for a few publishes (milliseconds),
# renewing it before each; one that dies holding it (a worker killed) frees
# it after this long. Longer than one publish can take (posts/delivery/nchan.py:
# PUBLISH_TIMEOUT, asked at most four times), and short, since the blog's live
# delivery waits for it (30 s stopped every reader's updates in the fault drill).
ORDER_LOCK_SECONDS = 10


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._handed: dict[str, int] = {}
        self._guard = threading.Lock()

    def publish(self, slug: str, message: dict) -> None:
        hub.deliver(slug, message)

    @contextmanager
    def in_order(self, key: str) -> Iterator[Handed]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            handed = Handed(self._handed.get(key))
            try:
                yield handed
            finally:
                if handed.seq is not None:
                    self._handed[key] = handed.seq

    def reader_count(self, slug: str) -> int:
        return hub.count(slug)

    def ensure_listening(self) -> None:
        pass


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.url = url
        self.prefix = f"{prefix}:live:"
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=0.5)
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.client_name = f"live-channel-{os.getpid()}-{self.process_id[-6:]}"
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.connected = threading.Event()

    def channel_name(self, slug: str) -> str:
        return f"{self.prefix}{slug}"

    def counts_key(self, slug: str) -> str:
        return f"{self.prefix}readers:{slug}"

    def publish(self, slug: str, message: dict) -> None:
        self.client.publish(self.channel_name(slug), orjson.dumps(message))

    @contextmanager
    def in_order(self, key: str) -> Iterator[Handed]:
        lock = self.client.lock(
            f"{self.prefix}order-lock:{key}", timeout=ORDER_LOCK_SECONDS, blocking_timeout=ORDER_LOCK_SECONDS
        )
        if not lock.acquire():
            raise TimeoutError(f"the live channel's order lock of blog {key} stayed taken")
        try:
            raw = self.client.get(f"{self.prefix}handed:{key}")
            handed = Handed(int(raw) if raw is not None else None, keep=lambda: lock.extend(ORDER_LOCK_SECONDS, replace_ttl=True))
            try:
                yield handed
            finally:
                if handed.seq is not None:
                    self.client.set(f"{self.prefix}handed:{key}", handed.seq, ex=7 * 86400)
        finally:
            with suppress_lock_errors():
                lock.release()

    def reader_count(self, slug: str) -> int:
        now = time.time()
        total = 0
        for value in self.client.hgetall(self.counts_key(slug)).values():
            count, _, stamp = value.decode().partition(":")
            if now - float(stamp or 0) < COUNT_STALE_SECONDS:
                total += int(count)
        return total

    # The one subscription per process.

    def ensure_listening(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._listen_forever, name="live-channel", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen_forever(self) -> None:
        import redis

        delay = 0.1
        first = True
        while not self._stop.is_set():
            pubsub = None
            try:
                conn = redis.Redis.from_url(
                    self.url, socket_connect_timeout=2, health_check_interval=10, client_name=self.client_name
                )
                pubsub = conn.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{self.prefix}*")
                pubsub.get_message(timeout=1)  # confirms the subscription
                self.connected.set()
                if not first:
                    log.warning("live channel: Redis subscription restored; readers resync from the log")
                first = False
                # Whatever was published before this subscription existed is
                # in the event log: every reader catches up from there.
                hub.deliver_all(RESYNC)
                delay = 0.1
                self._refresh_counts(every_slug=True)
                next_refresh = time.monotonic() + COUNT_REFRESH_SECONDS
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message and message["type"] == "pmessage":
                        slug = message["channel"].decode()[len(self.prefix):]
                        hub.deliver(slug, orjson.loads(message["data"]))
                    if time.monotonic() >= next_refresh:
                        self._refresh_counts(every_slug=True)
                        next_refresh = time.monotonic() + COUNT_REFRESH_SECONDS
                    else:
                        self._refresh_counts(every_slug=False)
            except (redis.RedisError, OSError) as exc:
                self.connected.clear()
                log.warning("live channel: Redis subscription lost (%s); retrying in %.1fs", exc, delay)
                hub.deliver_all(RESYNC)
                self._stop.wait(delay)
                delay = min(delay * 2, 2.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001, S110 - already broken; the loop reconnects
                        pass

    def _refresh_counts(self, *, every_slug: bool) -> None:
        changed = hub.take_changed()
        counts = hub.counts()
        slugs = set(counts) | changed if every_slug else changed
        if not slugs:
            return
        now = int(time.time())
        pipe = self.client.pipeline(transaction=False)
        for slug in slugs:
            count = counts.get(slug, 0)
            if count:
                pipe.hset(self.counts_key(slug), self.process_id, f"{count}:{now}")
                pipe.expire(self.counts_key(slug), COUNT_STALE_SECONDS * 2)
            else:
                pipe.hdel(self.counts_key(slug), self.process_id)
        pipe.execute()


@contextmanager
def suppress_lock_errors() -> Iterator[None]:
    """Releasing a lock that expired (the holder took longer than
    ``ORDER_LOCK_SECONDS``) is not worth failing a task that already
    published."""
    import redis

    try:
        yield
    except redis.exceptions.LockError:
        log.warning("live channel: an order lock expired before its release")


_backends: dict[tuple, MemoryBackend | RedisBackend] = {}
_backends_lock = threading.Lock()


def backend() -> MemoryBackend | RedisBackend:
    """The configured backend (one instance per configuration and process)."""
    name = settings.LIVEBLOG_CHANNEL_BACKEND
    key = (name, settings.REDIS_URL if name == "redis" else "")
    with _backends_lock:
        if key not in _backends:
            if name == "redis":
                if not settings.REDIS_URL:
                    raise RuntimeError("LIVEBLOG_CHANNEL_BACKEND=redis needs REDIS_URL")
                prefix = settings.CACHES["default"].get("KEY_PREFIX") or "lb"
                _backends[key] = RedisBackend(settings.REDIS_URL, prefix)
            elif name == "memory":
                _backends[key] = MemoryBackend()
            else:
                raise RuntimeError(f"unknown LIVEBLOG_CHANNEL_BACKEND {name!r}; use memory or redis")
        return _backends[key]


# --- Public interface ---------------------------------------------------------


def publish(slug: str, message: dict) -> None:
    """Send one event message to every open reader of ``slug``.

    Raises if the backend cannot take it (Redis down): the fan-out task then
    fails, the event stays unconfirmed and the sweep sends it again.
    """
    backend().publish(slug, message)
    # --- Production profile: also to nginx's Nchan (posts/nchan.py; no-op
    # unless LIVEBLOG_NCHAN_PUBLISH_URL is set).
    nchan.publish(slug, message)


def order_key(blog_id: int, created: float) -> str:
    """The key of a blog's channel lock. Its creation time is part of it: a
    test database that hands an id out again (SQLite rolls its sequence back)
    never inherits another blog's seq."""
    return f"{blog_id}.{created:.6f}"


def resync_nchan(key: str, slug: str, last_confirmed: Callable[[], int]) -> bool:
    """Give Nchan a message to resume ``slug``'s readers after when it holds
    none of the recorded ones (:data:`nchan.STALE`): under the blog's channel
    lock (``key``), so no event is published meanwhile, a comment is published
    and recorded as following the last seq handed over. When Redis lost that
    seq, it is ``last_confirmed()`` (the highest fanned-out seq), as the
    fan-out itself would take it. False when Nchan cannot be reached."""
    if not nchan.enabled():
        return False
    try:
        with in_order(key) as handed:
            if handed.seq is None:
                handed.seq = last_confirmed()
            # Another reader's resync (or a publish) may have come first.
            if not isinstance(nchan.resume_after(slug, handed.seq), str):
                nchan.resync(slug, handed.seq)
    except (OSError, TimeoutError, *CACHE_ERRORS) as exc:
        log.warning("nchan: could not resync %s: %s", slug, exc)
        return False
    return True


def publish_live(slug: str, message: dict) -> None:
    """Send a live-only message (``poll.updated``, ``readers.now``: no seq,
    outside the event log) to every open reader of ``slug``, both profiles.
    Never raises: the next message supersedes a lost one."""
    for send in (backend().publish, nchan.publish_live):
        try:
            send(slug, message)
        except Exception:  # noqa: BLE001 - Redis or Nchan away; logged, the next count follows
            log.warning("could not send %s to the readers of %s", message.get("type"), slug, exc_info=True)


def in_order(key: str):
    """A context manager holding one blog's (``key``) channel lock and yielding its
    :class:`Handed` seq: the fan-out publishes every seq after it, in
    order, and moves it (see :func:`posts.delivery.fanout.publish_live`)."""
    return backend().in_order(key)


def reader_count(slug: str) -> int:
    """Readers connected to ``slug`` now, across processes."""
    try:
        # Production profile: readers held by Nchan count too (0 when unused).
        return backend().reader_count(slug) + nchan.reader_count(slug)
    except Exception:  # noqa: BLE001 - a count is informative, never fatal
        log.warning("could not count readers of %s", slug, exc_info=True)
        return hub.count(slug)


def subscribe(slug: str, *, counted: bool = True) -> Reader:
    """Register a reader on the running event loop (call from async code).

    ``counted=False`` for newsroom desks, which are not readers."""
    backend().ensure_listening()
    reader = Reader(slug=slug, loop=asyncio.get_running_loop(), counted=counted)
    hub.add(reader)
    return reader


def unsubscribe(reader: Reader) -> None:
    hub.remove(reader)
