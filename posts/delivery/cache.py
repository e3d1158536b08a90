"""Blog versions in the shared cache: what every cached read is keyed by and
what the fan-out moves on each event (see docs/caching.md)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time

import redis.asyncio
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache, RedisSerializer
from redis.exceptions import RedisError

from posts.domain.models import Blog

log = logging.getLogger(__name__)

SEQ_TTL = 60
# SSE's cached blog id and status; a status change shows in the log anyway.
BLOG_STATE_TTL = 10

# What a lost Redis raises (redis' ConnectionError and TimeoutError are
# RedisErrors; the builtin ones, and socket errors, are OSErrors).
CACHE_ERRORS = (RedisError, OSError)
# After a failure the cache is skipped for this long (per process).
RETRY_AFTER_SECONDS = 1.0
WARN_EVERY_SECONDS = 60.0

BLOGS_SURROGATE_KEY = "blogs"

_SAFE_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")


def key_part(slug: str) -> str:
    """A slug as it goes into a cache key: as is when it could be a slug, a
    digest otherwise (a URL can carry any text; keys stay portable)."""
    if _SAFE_SLUG.fullmatch(slug):
        return slug
    return "h" + hashlib.blake2s(slug.encode(), digest_size=8).hexdigest()


def seq_key(slug: str) -> str:
    return f"blog-ver:{key_part(slug)}"


def blogs_generation_key() -> str:
    return "blogs-gen"


def surrogate_key(slug: str) -> str:
    return f"blog-{slug}"


def _new_epoch() -> str:
    return secrets.token_hex(4)


class _Outage:
    """This process's view of the cache's health (a tiny circuit breaker).

    Plain attributes, no lock: a race costs at most one extra cache attempt
    or one extra log line."""

    skip_until = 0.0
    failures = 0
    warned_at: float | None = None


_outage = _Outage()
_UNAVAILABLE = object()


def cache_available() -> bool:
    """False while the cache is being skipped after a failure."""
    return time.monotonic() >= _outage.skip_until


def _cache_failed(exc: BaseException) -> None:
    now = time.monotonic()
    _outage.skip_until = now + RETRY_AFTER_SECONDS
    _outage.failures += 1
    if _outage.warned_at is None or now - _outage.warned_at >= WARN_EVERY_SECONDS:
        log.warning(
            "read cache unavailable (%s: %s); serving readers from the database, uncached "
            "(%d failure(s) since the last warning)",
            type(exc).__name__, exc, _outage.failures,
        )
        _outage.warned_at = now
        _outage.failures = 0


def _cache_call(method: str, *args, **kwargs):
    """``cache.<method>(...)``, or :data:`_UNAVAILABLE` if the cache is down."""
    if not cache_available():
        return _UNAVAILABLE
    try:
        result = getattr(cache, method)(*args, **kwargs)
    except CACHE_ERRORS as exc:
        _cache_failed(exc)
        return _UNAVAILABLE
    if _outage.warned_at is not None:
        log.warning("read cache is back")
        _outage.warned_at = None
        _outage.failures = 0
    return result


def cache_get(key: str, default=None):
    """``cache.get`` that answers ``default`` when the cache is down."""
    value = _cache_call("get", key, default)
    return default if value is _UNAVAILABLE else value


def cache_set(key: str, value, timeout=None) -> None:
    """``cache.set`` that does nothing when the cache is down."""
    _cache_call("set", key, value, timeout=timeout)


def cache_get_many(keys: list[str]) -> dict:
    """``cache.get_many`` that answers ``{}`` when the cache is down."""
    found = _cache_call("get_many", keys)
    return {} if found is _UNAVAILABLE else found


_async_clients: dict[int, object] = {}
ASYNC_CONNECTIONS = 8
_serializer = RedisSerializer()


async def cache_get_many_async(keys: list[str]) -> dict:
    """:func:`cache_get_many` without a thread: on Redis one ``MGET`` through
    an asyncio client of this event loop's own (values read as Django's
    cache stores them); elsewhere (local memory) the cache itself, which
    never waits. ``{}`` when the cache is down.

    For a hot path in front of Django (posts.web.sse.wrap): a hop to a
    worker thread per request, under a mass resume, had the event loop, the
    threads and the request threads take turns at the GIL, and the desk's
    publishes waited seconds behind them (the fault drill, bench/RESULTS.md).
    """
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return cache_get_many(keys)
    if not cache_available():
        return {}
    loop = asyncio.get_running_loop()
    client = _async_clients.get(id(loop))
    if client is None:
        if len(_async_clients) > 8:
            _async_clients.clear()  # loops of tests come and go; uvicorn has one
        options = backend._options
        # A few connections, waited for: a thousand readers resuming at once
        # would otherwise open a thousand connections to Redis.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            backend._servers[0], max_connections=ASYNC_CONNECTIONS, timeout=options.get("socket_timeout"),
            socket_connect_timeout=options.get("socket_connect_timeout"),
            socket_timeout=options.get("socket_timeout"),
        )
        client = _async_clients[id(loop)] = redis.asyncio.Redis(connection_pool=pool)
    try:
        values = await client.mget([backend.make_and_validate_key(key) for key in keys])
    except (*CACHE_ERRORS, RuntimeError):  # RuntimeError: a test's loop has closed
        # The caller falls back to Django, whose cache calls notice an outage.
        _async_clients.pop(id(loop), None)
        return {}
    return {key: _serializer.loads(value) for key, value in zip(keys, values, strict=True) if value is not None}


def cache_set_many(values: dict, timeout=None) -> None:
    """``cache.set_many`` that does nothing when the cache is down."""
    _cache_call("set_many", values, timeout=timeout)


# Each published entry's public renderings, one cache key per kind
# (posts/web/fragments.py builds them; docs/performance.md).
FRAGMENT_KINDS = ("page", "permalink", "rss", "atom", "jsonfeed", "api", "desk")


def fragment_key(kind: str, entry_id: int) -> str:
    return f"frag:{kind}:{int(entry_id)}"


def forget_entry_fragments(entry_id: int) -> None:
    """Delete every rendering of a taken-down entry (the fan-out of its
    ``entry.deleted``): no copy of its text outlives it in the cache."""
    cache.delete_many([fragment_key(kind, entry_id) for kind in FRAGMENT_KINDS])
def cache_set_strict(key: str, value) -> None:
    """``cache.set`` with no expiry, raising ``OSError`` if the cache is down."""
    if _cache_call("set", key, value, timeout=None) is _UNAVAILABLE:
        raise OSError("the shared cache is unavailable")


def cache_delete_strict(key: str) -> None:
    if _cache_call("delete", key) is _UNAVAILABLE:
        raise OSError("the shared cache is unavailable")


def invalidate_blog(*, slug: str, seq: int) -> None:
    """Make every cached read of this blog stale (they are keyed by seq).

    Called by the fan-out for every event, possibly out of order and more
    than once: a seq lower than the one held is ignored. Seq 1 is a blog's
    first event: a blog (re)created under a slug used before starts a new
    epoch, so nothing cached for its predecessor is ever served.
    """
    seq = int(seq)
    held = cache.get(seq_key(slug))
    if held is None or seq == 1 or int(held[1]) < seq:
        epoch = _new_epoch() if held is None or seq == 1 else held[0]
        cache.set(seq_key(slug), (epoch, seq), timeout=SEQ_TTL)
    cache.set(blogs_generation_key(), f"{time.time_ns():x}", timeout=None)


def current_seq(slug: str) -> int | None:
    """The blog's latest seq: from the cache, or the database once on a miss.

    None when there is no such blog (not cached: the caller answers 404).
    """
    version = current_version(slug)
    return None if version is None else int(version.rsplit(".", 1)[1])


def current_version(slug: str) -> str | None:
    """``<epoch>.<seq>``: what every cached read of the blog is keyed by.

    The epoch is made afresh whenever the cache lost the blog's entry (or
    the blog was recreated), so a stale copy can never match a live key.
    """
    return current_version_with(slug, ())[0]


def current_version_with(slug: str, keys: list[str] | tuple[str, ...]) -> tuple[str | None, dict]:
    """:func:`current_version` and the values of ``keys`` found in the
    cache, in the same round trip (``/updates`` reads its blog's pace so:
    each round trip was a tenth of a cold read, bench/PROFILING.md)."""
    found = _cache_call("get_many", [seq_key(slug), *keys]) if keys else _cache_call("get", seq_key(slug))
    if found is _UNAVAILABLE:
        row = Blog.objects.filter(slug=slug).values_list("pk", "last_seq").first()
        return (None if row is None else f"db{row[0]}.{row[1]}"), {}
    if keys:
        held, found = found.pop(seq_key(slug), None), found
    else:
        held, found = found, {}
    if held is None:
        seq = Blog.objects.filter(slug=slug).values_list("last_seq", flat=True).first()
        if seq is None:
            return None, found
        held = (_new_epoch(), int(seq))
        if not _cache_call("add", seq_key(slug), held, timeout=SEQ_TTL):
            held = cache_get(seq_key(slug)) or held
    return f"{held[0]}.{held[1]}", found


def blogs_generation() -> str:
    """A token that changes whenever any blog has an event."""
    token = _cache_call("get", blogs_generation_key())
    if token is _UNAVAILABLE:
        # Unique per request: the lists are built afresh and never match a 304.
        return f"off{time.time_ns():x}"
    if token is None:
        token = f"{time.time_ns():x}"
        if not _cache_call("add", blogs_generation_key(), token, timeout=None):
            token = cache_get(blogs_generation_key()) or token
    return str(token)


def purge_blog_responses(slug: str) -> int:
    """Delete every stored response of the blog (pages, permalinks, feeds,
    API reads), not only make them unreachable by moving its seq: after a
    takedown no cached copy of the text is left. Returns how many went.

    On Redis only the blog's ``resp:`` keys and its row go; the
    local-memory cache is this process's own, so it is cleared whole (a
    takedown is rare)."""
    backend = getattr(cache, "_cache", None)
    client_factory = getattr(backend, "get_client", None)
    if client_factory is None:
        cache.clear()
        return -1
    part = key_part(slug)
    client = client_factory(write=True)
    prefix = cache.make_and_validate_key("resp:")
    pattern = cache.make_and_validate_key(f"resp:*:*:{part}:*")
    keys = [
        key for key in client.scan_iter(match=pattern, count=1000)
        # kind and slug are the 2nd and 3rd parts after the prefix: match the slug exactly
        if key.decode().removeprefix(prefix).split(":")[2] == part
    ]
    client.delete(*keys, cache.make_and_validate_key(blog_row_key(slug)))
    return len(keys)


def blog_row_key(slug: str) -> str:
    """The blog's row as the cold reads of one version read it
    (``posts.web.caching.public_blog_of``); purged with the responses."""
    return f"blog-row:{key_part(slug)}"


def blog_state_key(slug: str) -> str:
    return f"sse-blog:{key_part(slug)}"


def forget_blog_state(slug: str) -> None:
    """Drop SSE's cached id and status (the fan-out calls this on blog events)."""
    cache.delete(blog_state_key(slug))
