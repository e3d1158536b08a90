"""Overload control: do a blog's readers hold a stream (SSE) or poll
``/updates``, and how often. See deploy/README.md ("Overload controls").

``LIVEBLOG_PUSH_MODE`` (``sse`` or ``poll``) is the default for every blog;
``manage.py push_mode`` switches all blogs or one at run time through the
shared cache (a Redis that lost its data falls back to the setting).
Readers learn the pace from ``/updates`` (``push``, ``poll_ms``) and from
SSE's ``retry:``; live.js closes its stream and polls when told ``poll``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from . import cache

SSE = "sse"
POLL = "poll"
MODES = (SSE, POLL)
ALL_KEY = "push-mode:*"


def blog_key(slug: str) -> str:
    return f"push-mode:{cache.key_part(slug)}"


@dataclass(frozen=True)
class Pace:
    mode: str
    poll_ms: int  # how often a reader polls /updates
    retry_ms: int  # SSE's retry: how long a dropped stream waits to reconnect


def keys(slug: str) -> list[str]:
    """The cache keys :func:`pace` reads, for a caller that reads them in
    the same round trip as others (:func:`pace_of`)."""
    return [blog_key(slug), ALL_KEY]


def pace(slug: str) -> Pace:
    """The pace readers of ``slug`` are asked to keep now (one cache round trip)."""
    return pace_of(slug, cache.cache_get_many(keys(slug)))


def pace_of(slug: str, found: dict) -> Pace:
    """:func:`pace` from the values of :func:`keys` already read."""
    mode = found.get(blog_key(slug)) or found.get(ALL_KEY) or settings.LIVEBLOG_PUSH_MODE
    if mode == POLL:
        ms = int(settings.LIVEBLOG_OVERLOAD_POLL_SECONDS * 1000)
        return Pace(POLL, poll_ms=ms, retry_ms=ms)
    return Pace(SSE, poll_ms=int(settings.LIVEBLOG_POLL_SECONDS * 1000), retry_ms=settings.LIVEBLOG_SSE_RETRY_MS)


def switch(mode: str | None, slug: str | None = None) -> None:
    """Set the mode of one blog (``slug``) or of all; ``None`` goes back to
    the next level (all blogs', then the setting). Raises ``OSError`` when
    the cache cannot take it (the switch would silently do nothing)."""
    key = blog_key(slug) if slug else ALL_KEY
    if mode is None:
        cache.cache_delete_strict(key)
    elif mode in MODES:
        cache.cache_set_strict(key, mode)
    else:
        raise ValueError(f"push mode must be one of {MODES}")
