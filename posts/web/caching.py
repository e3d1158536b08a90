"""Read-side caching: every public read is served from the cache, keyed by
the blog's latest event ``seq`` (``posts.delivery.cache``), so a reader costs
no database query; ``ETag``/``304`` without rendering. See docs/caching.md."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import get_conditional_response
from django.utils.http import http_date

from posts.delivery.cache import (  # noqa: F401 - the read side's view of blog versions
    BLOGS_SURROGATE_KEY,
    CACHE_ERRORS,
    SEQ_TTL,
    _cache_call,
    blog_row_key,
    blogs_generation,
    cache_available,
    cache_get,
    cache_set,
    current_seq,
    current_version,
    current_version_with,
    key_part,
    surrogate_key,
)
from posts.domain import selectors
from posts.domain.models import Blog

log = logging.getLogger(__name__)

# Bump when templates or JSON shapes change, so clients and CDNs drop
# what they hold for an unchanged seq (and when the stored shape changes).
CACHE_VERSION = "6"

RESPONSE_TTL = 3600

PAGE_CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400"
FEED_CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=300, stale-if-error=86400"
ERROR_CACHE_CONTROL = "no-cache"
PRIVATE_CACHE_CONTROL = "private, no-store"
# Served while the cache is down: every reply is a database read, so let a
# CDN or micro-cache take the load, but only for a moment.
DEGRADED_CACHE_CONTROL = "public, max-age=2, stale-while-revalidate=10, stale-if-error=86400"
READ_CACHE_HEADER = "X-Read-Cache"

_HEADERS_KEPT = ("Content-Type", "Last-Modified", "Content-Language")


NOT_READ = object()  # a CachedRead whose slot (or blog row) was not read with its version


@dataclass(frozen=True)
class CachedRead:
    """What identifies one cacheable read: a kind, its blog, and a variant
    (the query parameters that change the body), at the blog's version.

    Each (kind, blog, variant) has one slot in the cache, holding the
    response of one version: a read finds it only when the version matches,
    and a write's new version takes the slot over (old versions are not
    left to pile up until their TTL). ``held`` is the slot's value when it
    was read already, with the version (:func:`blog_read`)."""

    kind: str
    slug: str
    version: str
    variant: str = ""
    held: object = field(default=NOT_READ, compare=False, repr=False)
    blog_held: object = field(default=NOT_READ, compare=False, repr=False)
    # The slot's own variant when it is coarser than ``variant`` (``/updates``
    # keys its slot by ``since`` alone, known before the version is read);
    # the slot then holds one variant's response at a time.
    slot_variant: str | None = field(default=None, compare=False, repr=False)

    def _variant_digest(self) -> str:
        return _digest(self.variant)

    @property
    def key(self) -> str:
        return slot_key(self.kind, self.slug, self.variant if self.slot_variant is None else self.slot_variant)

    @property
    def identity(self) -> str:
        """What a slot's response must have been made for to be served."""
        return self.version if self.slot_variant is None else f"{self.version}|{self.variant}"

    @property
    def etag(self) -> str:
        return f'W/"{CACHE_VERSION}.{self.kind}.{key_part(self.slug)}.{self.version}.{self._variant_digest()}"'


def slot_key(kind: str, slug: str, variant: str = "") -> str:
    """The cache key of a read's slot (purge_blog_responses matches its
    blog by the third part)."""
    return f"resp:{CACHE_VERSION}:{kind}:{key_part(slug)}:{_digest(variant)}"


def _digest(variant: str) -> str:
    return hashlib.blake2s(variant.encode(), digest_size=8).hexdigest() if variant else "-"


def blog_read(kind: str, slug: str, variant: str = "") -> CachedRead | None:
    """The read of ``slug`` at its current version, with its slot read in
    the same cache round trip (one of the four a cold page made, and one of
    the two of a hit; bench/PROFILING.md). None: no such blog."""
    key, row = slot_key(kind, slug, variant), blog_row_key(slug)
    version, found = current_version_with(slug, [key, row])
    if version is None:
        return None
    return CachedRead(
        kind=kind, slug=slug, version=version, variant=variant, held=found.get(key), blog_held=found.get(row),
    )


def public_blog_of(read: CachedRead) -> Blog | None:
    """:func:`selectors.public_blog` of the read's blog, at its version.

    A write moves the version, and then every page, feed and API reply of
    the blog misses once, on every cache node: the first of those cold
    reads reads the blog's row and keeps it for the version, the others
    find it in the round trip that read the version (0.33 ms of each cold
    read on PostgreSQL; bench/PROFILING.md, "Third pass"). The row is as
    fresh as the responses cached for that version: every change of a blog
    a reader can see is an event, which moves the version."""
    held = read.blog_held
    if held is not NOT_READ and held is not None and held[0] == read.version:
        return held[1]
    blog = selectors.public_blog(read.slug)
    if blog is not None:
        cache_set(blog_row_key(read.slug), (read.version, blog), timeout=SEQ_TTL)
    return blog


def _store(read: CachedRead, response: HttpResponse) -> None:
    headers = {name: response[name] for name in _HEADERS_KEPT if response.has_header(name)}
    cache_set(read.key, (read.identity, response.status_code, bytes(response.content), headers), timeout=RESPONSE_TTL)


def _load(read: CachedRead) -> HttpResponse | None:
    stored = cache_get(read.key) if read.held is NOT_READ else read.held
    if stored is None or stored[0] != read.identity:
        return None
    _, status, content, headers = stored
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


_OUR_KEYS = ("blog-ver:*", "resp:*", "blog-row:*", "frag:*", "blogs-gen")


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
