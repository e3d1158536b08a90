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
    sharing cards: an entry's photo, else the first image of its body;
    empty when none has one."""
    from posts.domain.rendering import first_image
    from posts.domain.serializers import absolute_url, share_file

    for entry in entries if isinstance(entries, list | tuple) else [entries]:
        if entry is None:
            continue
        if entry.image_id:
            return share_file(entry.image)["url"]
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
# The photo's display width: the reader column (--measure, 42rem) or the
# viewport less the page's padding (static/live/live.css).
PHOTO_SIZES = "(min-width: 44rem) 42rem, calc(100vw - 2rem)"


@register.filter
def picture(media) -> dict:
    """What ``templates/posts/_photo.html`` needs: a WebP and a JPEG
    ``srcset`` (empty until the renditions are made) and the fallback src."""
    from posts.domain.serializers import media_url, share_file

    def srcset(kind: str) -> str:
        return ", ".join(f"{media_url(r['name'])} {r['width']}w" for r in media.renditions if r["type"] == kind)

    return {
        "webp": srcset("image/webp"),
        "jpeg": srcset("image/jpeg"),
        "src": share_file(media)["url"],
        "sizes": PHOTO_SIZES,
    }


@register.filter
def share_image_alt(entries) -> str:
    """The alt text of the image :func:`share_image` picks: an entry's photo
    has one; an image in a body has none we can vouch for."""
    from posts.domain.rendering import first_image

    for entry in entries if isinstance(entries, list | tuple) else [entries]:
        if entry is None:
            continue
        if entry.image_id:
            return entry.image.alt
        if first_image(entry.body_html):
            return ""
    return ""
