"""Read-side caching: every public read is served from the cache, keyed by
the blog's latest event ``seq``, so a reader costs no database query.

How it works

- ``blog-ver:<slug>`` in the cache holds ``(epoch, seq)``: the blog's latest
  seq and a random epoch token. The fan-out calls :func:`invalidate_blog`
  after every event, which stores the new seq (never lowering it). On a miss
  the seq is read from the database once and a new epoch drawn
  (:func:`current_version`); a blog's first event (seq 1) also draws one, so
  a slug reused after a deletion never gets its predecessor's pages.
- A cached response is stored under
  ``resp:<kind>:<slug>:<epoch>.<seq>:<variant>``.
  A new event changes the seq, so every cached page, feed and API reply of
  the blog is replaced at once, with nothing to enumerate or delete; old
  keys simply expire. A response built while an event commits may already
  include it: readers then see it a little early, never late.
- ``ETag`` is derived from slug + seq + variant (no body hashing), so
  ``If-None-Match`` is answered with ``304`` before the cached body is even
  read. ``Last-Modified`` is the time of the blog's latest event.
- The home page and ``GET /api/blogs`` depend on every blog: they are keyed by
  a global generation token (``blogs-gen``) that :func:`invalidate_blog`
  replaces on every event.
- Every public read sends ``Cache-Control`` (short ``max-age`` for pages and
  the API, longer for feeds, with ``stale-while-revalidate`` and
  ``stale-if-error``) and ``Surrogate-Key: blog-<slug>`` (plus ``blogs`` on
  lists), so a CDN can cache too and be purged by key.
- Only 200 replies are cached; errors (404 for drafts, 400 for bad cursors)
  are built each time and sent with ``Cache-Control: no-cache``.

The fan-out is the only invalidation path; in the embedded default Celery
runs eagerly at commit, so the next request sees the change. The seq key is
kept for :data:`SEQ_TTL` seconds as a safety net: should an invalidation be
lost (a cache outage mid fan-out), pages catch up within that time. The
same bound applies in the embedded default to writes made by another
process (a ``manage.py`` command), since its local-memory cache is per
process; with Redis the cache is shared and invalidation is immediate.

Cost, measured (``/tmp`` bench, SQLite): the live page's first page is 8
queries on a miss for 50 or 5,000 entries alike, and 0 on a hit.

A lost cache (Redis down)

Readers are served from the database, uncached, never a 500. Every cache
call of the read path goes through :func:`_cache_call`: a Redis or socket
error is caught, logged as a warning at most once per
:data:`WARN_EVERY_SECONDS` per process (with the count of failures since),
and the cache is skipped for :data:`RETRY_AFTER_SECONDS` (a small circuit
breaker, so a Redis that times out rather than refuses costs one short
socket timeout per process per interval, not one per request). Meanwhile:

- the blog's version is read from the database as ``db<blog id>.<seq>``:
  deterministic, so ``ETag``/``304`` keep working, and naming the blog's id
  where the cache would name a random epoch (a reused slug never matches);
- replies carry :data:`DEGRADED_CACHE_CONTROL` (a couple of seconds), so a
  CDN or nginx micro-cache absorbs the load without holding old content;
- ``X-Read-Cache`` says ``hit``, ``miss`` or ``off`` (operators, tests).

:func:`invalidate_blog` still raises: it runs in the fan-out, which then
fails, leaves the event unconfirmed, and is re-sent by the sweep once Redis
is back (a Redis restarted empty has nothing stale anyway).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Bump when templates or JSON shapes change, so clients and CDNs drop
# what they hold for an unchanged seq.
CACHE_VERSION = "3"

SEQ_TTL = 60
RESPONSE_TTL = 3600

PAGE_CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400"
FEED_CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=300, stale-if-error=86400"
ERROR_CACHE_CONTROL = "no-cache"
PRIVATE_CACHE_CONTROL = "private, no-store"
# Served while the cache is down: every reply is a database read, so let a
# CDN or micro-cache take the load, but only for a moment.
DEGRADED_CACHE_CONTROL = "public, max-age=2, stale-while-revalidate=10, stale-if-error=86400"
READ_CACHE_HEADER = "X-Read-Cache"

# What a lost Redis raises (redis' ConnectionError and TimeoutError are
# RedisErrors; the builtin ones, and socket errors, are OSErrors).
CACHE_ERRORS = (RedisError, OSError)
# After a failure the cache is skipped for this long (per process).
RETRY_AFTER_SECONDS = 1.0
WARN_EVERY_SECONDS = 60.0

BLOGS_SURROGATE_KEY = "blogs"

_HEADERS_KEPT = ("Content-Type", "Last-Modified", "Content-Language")


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
    from .models import Blog

    held = _cache_call("get", seq_key(slug))
    if held is _UNAVAILABLE:
        row = Blog.objects.filter(slug=slug).values_list("pk", "last_seq").first()
        return None if row is None else f"db{row[0]}.{row[1]}"
    if held is None:
        seq = Blog.objects.filter(slug=slug).values_list("last_seq", flat=True).first()
        if seq is None:
            return None
        held = (_new_epoch(), int(seq))
        if not _cache_call("add", seq_key(slug), held, timeout=SEQ_TTL):
            held = cache_get(seq_key(slug)) or held
    return f"{held[0]}.{held[1]}"


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


@dataclass(frozen=True)
class CachedRead:
    """What identifies one cacheable read: a kind, its blog, and a variant
    (the query parameters that change the body)."""

    kind: str
    slug: str
    version: str
    variant: str = ""

    def _variant_digest(self) -> str:
        return hashlib.blake2s(self.variant.encode(), digest_size=8).hexdigest() if self.variant else "-"

    @property
    def key(self) -> str:
        return f"resp:{CACHE_VERSION}:{self.kind}:{key_part(self.slug)}:{self.version}:{self._variant_digest()}"

    @property
    def etag(self) -> str:
        return f'W/"{CACHE_VERSION}.{self.kind}.{key_part(self.slug)}.{self.version}.{self._variant_digest()}"'


def _store(read: CachedRead, response: HttpResponse) -> None:
    headers = {name: response[name] for name in _HEADERS_KEPT if response.has_header(name)}
    cache_set(read.key, (response.status_code, bytes(response.content), headers), timeout=RESPONSE_TTL)


def _load(read: CachedRead) -> HttpResponse | None:
    stored = cache_get(read.key)
    if stored is None:
        return None
    status, content, headers = stored
    response = HttpResponse(content, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _decorate(response: HttpResponse, *, read: CachedRead, cache_control: str, surrogate: str) -> HttpResponse:
    response["Cache-Control"] = cache_control
    response["ETag"] = read.etag
    response["Surrogate-Key"] = surrogate
    response["Vary"] = "Accept-Encoding"
    return response


def cached_read(
    request: HttpRequest,
    read: CachedRead,
    build: Callable[[], HttpResponse],
    *,
    cache_control: str = PAGE_CACHE_CONTROL,
    surrogate_keys: Iterable[str] = (),
) -> HttpResponse:
    """Answer ``request`` from the cache, a 304, or ``build()`` (then cached).

    ``build`` may raise or return an error response; those are not cached.
    """
    surrogate = " ".join(surrogate_keys) or surrogate_key(read.slug)
    if not cache_available():
        cache_control = DEGRADED_CACHE_CONTROL
    # Cheap conditional check first: the ETag is known without the body.
    if_none_match = request.headers.get("If-None-Match", "")
    if if_none_match and read.etag in [tag.strip() for tag in if_none_match.split(",")]:
        return _decorate(HttpResponseNotModified(), read=read, cache_control=cache_control, surrogate=surrogate)
    response = _load(read)
    state = "hit"
    if response is None:
        response = build()
        if response.status_code != 200:
            response["Cache-Control"] = ERROR_CACHE_CONTROL
            return response
        _store(read, response)
        state = "miss"
    if not cache_available():
        cache_control, state = DEGRADED_CACHE_CONTROL, "off"
    _decorate(response, read=read, cache_control=cache_control, surrogate=surrogate)
    response[READ_CACHE_HEADER] = state
    last_modified = response.get("Last-Modified")
    conditional = get_conditional_response(request, etag=read.etag, last_modified=_parse_http_date(last_modified))
    if conditional is not None and conditional.status_code == 304:
        return _decorate(conditional, read=read, cache_control=cache_control, surrogate=surrogate)
    return response


def _parse_http_date(value: str | None) -> int | None:
    if not value:
        return None
    from django.utils.http import parse_http_date_safe

    return parse_http_date_safe(value)


def set_last_modified(response: HttpResponse, when: datetime | None) -> HttpResponse:
    if when is not None:
        response["Last-Modified"] = http_date(when.timestamp())
    return response


def private(response: HttpResponse) -> HttpResponse:
    """For authenticated writes: never stored by a browser or a CDN."""
    response["Cache-Control"] = PRIVATE_CACHE_CONTROL
    return response


_OUR_KEYS = ("blog-ver:*", "resp:*", "blogs-gen")


def clear_read_cache() -> None:
    """Forget every cached read (for tests and operators).

    On Redis only our own keys go (the cache may share its database with
    the Celery broker, whose keys must stay); elsewhere the cache is ours.
    """
    backend = cache._cache if hasattr(cache, "_cache") else None
    client_factory = getattr(backend, "get_client", None)
    if client_factory is None:
        cache.clear()
        return
    client = client_factory(write=True)
    for pattern in _OUR_KEYS:
        keys = list(client.scan_iter(match=cache.make_and_validate_key(pattern), count=1000))
        if keys:
            client.delete(*keys)
