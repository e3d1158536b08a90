"""Markdown in, safe HTML out.

Python-Markdown renders; nh3 (the Ammonia sanitizer) then keeps only a known
set of tags and attributes, drops event handlers and ``javascript:`` URLs and
sets a safe ``rel`` on links. A paragraph that is nothing but a link to a
post on X, Bluesky or YouTube becomes an embed card, built from the parsed
URL after sanitizing, so it can never smuggle markup in.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlparse

import markdown
import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "figcaption",
    "figure", "h2", "h3", "h4", "hr", "i", "img", "li", "ol", "p", "pre", "s",
    "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow ugc"

_EXTENSIONS = ["extra", "sane_lists", "smarty"]

_LONE_LINK = re.compile(r'<p><a href="(?P<href>[^"]+)"[^>]*>[^<]*</a></p>')


def render_markdown(text: str) -> str:
    """Render reporter Markdown to sanitized HTML, with embeds for known posts."""
    raw = markdown.markdown(text or "", extensions=_EXTENSIONS, output_format="html")
    clean = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return _LONE_LINK.sub(_embed_or_keep, _autolink_bare_lines(clean))


SUMMARY_CHARS = 80

# Where a block starts or ends (or a line breaks) the text gets a line break, so
# "<p>Polls closed.</p><p>Counting began.</p>" does not read "closed.Counting".
_BLOCK_END = re.compile(
    r"<br\s*/?>|<hr\s*/?>|</?(?:p|li|h[1-6]|blockquote|pre|figure|figcaption|tr|table|ul|ol|div|iframe)\b[^>]*>",
    re.IGNORECASE,
)
_CELL_END = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
_PRE = re.compile(r"<pre\b.*?</pre\s*>", re.IGNORECASE | re.DOTALL)


def plain_text(html_text: str) -> str:
    """Text only (for JSON-LD ``articleBody``, feed summaries, push bodies):
    one line per block, words never glued across tags."""
    # Source line breaks are only spaces in HTML, except inside <pre>.
    source = _PRE.sub(lambda m: m.group(0).replace("\n", "<br>"), html_text or "")
    marked = _CELL_END.sub(" ", _BLOCK_END.sub("\n", re.sub(r"\s+", " ", source)))
    text = html.unescape(nh3.clean(marked, tags=set()))
    lines = (re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


_FIRST_IMAGE = re.compile(r"<img\b[^>]*?\bsrc=\"([^\"]+)\"", re.IGNORECASE)


def first_image(html_text: str) -> str | None:
    """The first image's address in sanitized HTML (for sharing cards)."""
    match = _FIRST_IMAGE.search(html_text or "")
    return html.unescape(match.group(1)) if match else None


_BARE_URL_PARAGRAPH = re.compile(r"<p>(https?://[^\s<>\"]+)</p>")


def _autolink_bare_lines(clean_html: str) -> str:
    """A paragraph holding only a pasted URL becomes a link (so it can embed)."""

    def link(match: re.Match) -> str:
        url = match.group(1)
        return f'<p><a href="{url}" rel="{LINK_REL}">{url}</a></p>'

    return _BARE_URL_PARAGRAPH.sub(link, clean_html)


def _embed_or_keep(match: re.Match) -> str:
    card = embed_card(html.unescape(match.group("href")))
    return card if card is not None else match.group(0)


def detect_embed(url: str) -> dict | None:
    """Classify a URL as an embeddable post: ``{provider, id, url}`` or None."""
    try:
        parsed = urlparse(url)
    except ValueError:
        return None
    if parsed.scheme not in {"http", "https"}:
        return None
    host = (parsed.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    parts = [p for p in parsed.path.split("/") if p]
    if host in {"youtube.com", "youtu.be", "youtube-nocookie.com"}:
        video_id = None
        if host == "youtu.be" and parts:
            video_id = parts[0]
        elif parts[:1] == ["watch"]:
            video_id = (parse_qs(parsed.query).get("v") or [None])[0]
        elif len(parts) >= 2 and parts[0] in {"embed", "shorts", "live"}:
            video_id = parts[1]
        if video_id and re.fullmatch(r"[A-Za-z0-9_-]{6,20}", video_id):
            return {"provider": "youtube", "id": video_id, "url": url}
        return None
    if host in {"x.com", "twitter.com"}:
        if len(parts) >= 3 and parts[1] == "status" and parts[2].isdigit():
            return {"provider": "x", "id": parts[2], "url": url, "author": parts[0]}
        return None
    if host == "bsky.app":
        if len(parts) >= 4 and parts[0] == "profile" and parts[2] == "post":
            return {"provider": "bluesky", "id": parts[3], "url": url, "author": parts[1]}
        return None
    return None


_PROVIDER_LABEL = {"youtube": "YouTube", "x": "X", "bluesky": "Bluesky"}


def embed_card(url: str) -> str | None:
    """A clean, script-free link card for an embeddable post.

    The live page's script may upgrade a YouTube card to a player on click;
    without JavaScript the card is an ordinary link.
    """
    found = detect_embed(url)
    if found is None:
        return None
    provider = found["provider"]
    label = _PROVIDER_LABEL[provider]
    if provider == "youtube":
        text = "Watch on YouTube"
    else:
        text = f"View post by @{found.get('author', '')} on {label}"
    safe_url = html.escape(url, quote=True)
    return (
        f'<figure class="embed embed--{provider}" data-embed="{provider}" '
        f'data-embed-id="{html.escape(found["id"], quote=True)}">'
        f'<a href="{safe_url}" rel="{LINK_REL}">{html.escape(text)}</a>'
        f"<figcaption>{label}</figcaption></figure>"
    )


def embed_hints(body: str) -> list[dict]:
    """Which links of ``body`` will embed, for the desk's preview. A link
    embeds when it stands alone on its line; one that is recognised but sits
    inside a sentence is reported so the reporter can move it."""
    hints = []
    for line in body.splitlines():
        for word in line.split():
            word = word.strip("<>()")
            found = detect_embed(word)
            if found is None:
                continue
            alone = line.strip().strip("<>") == word
            hints.append({
                "provider": found["provider"],
                "url": word,
                "embeds": alone,
                "card": embed_card(word) if alone else None,
            })
    return hints
