"""Small filters for the reader pages: times in UTC (the reader's script
turns them into local time) and bylines."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

from posts.domain.serializers import iso as _iso

register = template.Library()


@register.filter
def iso(value: datetime | None) -> str:
    """ISO 8601 in UTC, for ``<time datetime>`` and scripts."""
    return _iso(value.astimezone(UTC)) if value else ""


@register.filter
def utc_clock(value: datetime | None) -> str:
    """``21:04 UTC``: what readers without JavaScript see."""
    return f"{value.astimezone(UTC):%H:%M} UTC" if value else ""


@register.filter
def utc_date(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%-d %B %Y}" if value else ""


@register.filter
def byline(entry) -> str:
    """"Ana", "Ana and Ben", "Ana, Ben and Cy" (authors prefetched)."""
    names = [a.name for a in entry.byline]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


@register.filter
def host(url: str) -> str:
    """``www.example.com`` of a link: the text of a fact check's source link."""
    from urllib.parse import urlparse

    return urlparse(url or "").hostname or url


@register.filter
def plain(html_text: str) -> str:
    """Sanitized HTML as one line of text, block elements kept apart."""
    from posts.domain.rendering import plain_text

    return plain_text(html_text)


@register.filter
def share_image(entries) -> str:
    """The first image among ``entries`` (an entry or a list), absolute, for
    sharing cards; empty when none has one."""
    from posts.domain.rendering import first_image
    from posts.domain.serializers import absolute_url

    for entry in entries if isinstance(entries, list | tuple) else [entries]:
        if entry is None:
            continue
        src = first_image(entry.body_html)
        if src:
            return src if src.startswith(("http://", "https://")) else absolute_url(src)
    return ""


@register.filter
def oembed_url(page_url: str) -> str:
    """The oEmbed address of one of our pages, for the discovery ``<link>``."""
    from urllib.parse import urlencode

    from posts.domain.serializers import absolute_url

    return absolute_url("/oembed?" + urlencode({"url": page_url, "format": "json"}))
