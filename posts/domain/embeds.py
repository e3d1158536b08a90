"""Social embeds: which links embed, from which provider, and what a
provider's oEmbed answer may give us (docs/embeds.md).

Providers are settings (``LIVEBLOG_EMBED_PROVIDERS``): X, Bluesky and
YouTube built in, any oEmbed provider added by configuration. A provider
names its oEmbed endpoint and the one origin its player may be framed from
(the CSP ``frame-src`` allowlist is made from those origins).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

from django.conf import settings

# Captured text is cut here: a facade shows a post, not an article.
MAX_TEXT_CHARS = 1000
MAX_TITLE_CHARS = 300
MAX_AUTHOR_CHARS = 200
# How many links of one entry are captured (each is up to two requests).
MAX_EMBEDS_PER_ENTRY = 5


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    endpoint: str
    frame_origin: str
    hosts: tuple[str, ...] = ()
    kind: str = "post"  # "post" (shows text) or "video" (shows title and thumbnail)


def providers() -> dict[str, Provider]:
    """The configured providers by name."""
    found = {}
    for name, spec in settings.LIVEBLOG_EMBED_PROVIDERS.items():
        found[name] = Provider(
            name=name,
            label=spec.get("label", name),
            endpoint=spec["endpoint"],
            frame_origin=spec["frame"].rstrip("/"),
            hosts=tuple(h.lower() for h in spec.get("hosts", ())),
            kind=spec.get("kind", "post"),
        )
    return found


def frame_origins() -> list[str]:
    """Origins a provider's player is framed from: the CSP ``frame-src``."""
    return sorted({p.frame_origin for p in providers().values()})


_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{6,20}")


def detect(url: str) -> dict | None:
    """Classify a URL as an embeddable post: ``{provider, id, url, author?}`` or None."""
    try:
        parsed = urlparse(url)
    except ValueError:
        return None
    if parsed.scheme not in {"http", "https"}:
        return None
    host = (parsed.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    parts = [p for p in parsed.path.split("/") if p]
    known = providers()
    if host in {"youtube.com", "youtu.be", "youtube-nocookie.com"} and "youtube" in known:
        video_id = None
        if host == "youtu.be" and parts:
            video_id = parts[0]
        elif parts[:1] == ["watch"]:
            video_id = (parse_qs(parsed.query).get("v") or [None])[0]
        elif len(parts) >= 2 and parts[0] in {"embed", "shorts", "live"}:
            video_id = parts[1]
        if video_id and _VIDEO_ID.fullmatch(video_id):
            return {"provider": "youtube", "id": video_id, "url": url}
        return None
    if host in {"x.com", "twitter.com"} and "x" in known:
        if len(parts) >= 3 and parts[1] == "status" and parts[2].isdigit():
            return {"provider": "x", "id": parts[2], "url": url, "author": parts[0]}
        return None
    if host == "bsky.app" and "bluesky" in known:
        if len(parts) >= 4 and parts[0] == "profile" and parts[2] == "post":
            return {"provider": "bluesky", "id": parts[3], "url": url, "author": parts[1]}
        return None
    for provider in known.values():
        if provider.hosts and (host in provider.hosts or (parsed.hostname or "").lower() in provider.hosts):
            return {"provider": provider.name, "id": "", "url": url}
    return None


def known_frame(found: dict) -> str:
    """The player's address when the link alone tells it (YouTube, X), else ''."""
    if found["provider"] == "youtube":
        return f"https://www.youtube-nocookie.com/embed/{found['id']}?autoplay=1"
    if found["provider"] == "x":
        return "https://platform.twitter.com/embed/Tweet.html?" + urlencode({"id": found["id"], "dnt": "true"})
    return ""


_IFRAME_SRC = re.compile(r"<iframe\b[^>]*?\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
_BLUESKY_URI = re.compile(r"at://(did:[a-z0-9]+:[A-Za-z0-9._:%-]+)/app\.bsky\.feed\.post/([A-Za-z0-9]+)")


def frame_from_oembed(found: dict, html_snippet: str) -> str:
    """The player's address for ``found``: known from the link, or taken from
    the provider's oEmbed ``html`` (an iframe on the provider's own frame
    origin, or Bluesky's post URI); '' when there is none we would frame."""
    known = known_frame(found)
    if known:
        return known
    provider = providers()[found["provider"]]
    if found["provider"] == "bluesky":
        match = _BLUESKY_URI.search(html_snippet or "")
        if match:
            return f"{provider.frame_origin}/embed/{match.group(1)}/app.bsky.feed.post/{match.group(2)}"
        return ""
    match = _IFRAME_SRC.search(html_snippet or "")
    if match:
        src = match.group(1).replace("&amp;", "&")
        if frame_allowed(src):
            return src
    return ""


def frame_allowed(src: str) -> bool:
    """Whether ``src`` is an https address on a provider's frame origin."""
    try:
        parsed = urlparse(src)
    except ValueError:
        return False
    return parsed.scheme == "https" and f"{parsed.scheme}://{parsed.netloc}" in frame_origins()


def oembed_request_url(found: dict, *, maxwidth: int = 640) -> str:
    """The provider's oEmbed address for ``found`` (JSON, script left out where the provider allows)."""
    provider = providers()[found["provider"]]
    query = {"url": found["url"], "format": "json", "maxwidth": maxwidth}
    if found["provider"] == "x":
        query.update({"omit_script": "true", "dnt": "true"})
    separator = "&" if "?" in provider.endpoint else "?"
    return provider.endpoint + separator + urlencode(query)
