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
from collections.abc import Mapping

import markdown
import nh3

from . import embeds

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


def render_markdown(text: str, previews: Mapping[str, Mapping] | None = None) -> str:
    """Render reporter Markdown to sanitized HTML, with embeds for known posts
    (a facade for those with a captured ``previews[url]``, else a link card)."""

    def embed_or_keep(match: re.Match) -> str:
        url = html.unescape(match.group("href"))
        card = embed_card(url, (previews or {}).get(url))
        return card if card is not None else match.group(0)

    return _LONE_LINK.sub(embed_or_keep, _sanitized(text))


def _sanitized(text: str) -> str:
    raw = markdown.markdown(text or "", extensions=_EXTENSIONS, output_format="html")
    clean = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return _autolink_bare_lines(clean)


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


def detect_embed(url: str) -> dict | None:
    """Classify a URL as an embeddable post: ``{provider, id, url}`` or None."""
    return embeds.detect(url)


def embed_card(url: str, preview: Mapping | None = None) -> str | None:
    """A script-free card for an embeddable post: a facade showing what was
    captured when the entry was saved (``preview``), else a link card.

    Nothing in it loads from the provider. The live page's script adds a
    button that loads the player (``data-embed-frame``) on click; without
    JavaScript the card is an ordinary link.
    """
    found = detect_embed(url)
    if found is None:
        return None
    provider = embeds.providers()[found["provider"]]
    label = provider.label
    preview = preview or {}
    frame = preview.get("frame_src") or embeds.known_frame(found)
    if provider.kind == "video" or found["provider"] == "youtube":
        text = f"Watch on {label}"
    elif found.get("author"):
        text = f"View post by @{found['author']} on {label}"
    else:
        text = f"View on {label}"
    attrs = {
        "class": f"embed embed--{found['provider']}" + (" embed--captured" if preview else ""),
        "data-embed": found["provider"],
        "data-embed-id": found["id"],
        "data-embed-label": label,
    }
    if frame and embeds.frame_allowed(frame):
        attrs["data-embed-frame"] = frame
    parts = [f"<figure {_attributes(attrs)}>"]
    if preview.get("thumbnail_url"):
        size = {k: preview.get(f"thumbnail_{k}") for k in ("width", "height")}
        parts.append(
            f'<img class="embed__thumb" {_attributes({"src": preview["thumbnail_url"], **size})} alt="" loading="lazy">'
        )
    if preview.get("title"):
        parts.append(f'<p class="embed__title">{html.escape(preview["title"])}</p>')
    if preview.get("text"):
        paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in preview["text"].splitlines() if line.strip())
        parts.append(f'<blockquote class="embed__text">{paragraphs}</blockquote>')
    if preview.get("author_name"):
        parts.append(f'<p class="embed__author">{html.escape(preview["author_name"])}</p>')
    parts.append(f'<a href="{html.escape(url, quote=True)}" rel="{LINK_REL}">{html.escape(text)}</a>')
    parts.append(f"<figcaption>{html.escape(label)}</figcaption></figure>")
    return "".join(parts)


def _attributes(attrs: Mapping) -> str:
    return " ".join(f'{name}="{html.escape(str(value), quote=True)}"' for name, value in attrs.items() if value not in (None, ""))


def embed_urls(body: str) -> list[str]:
    """The links of ``body`` that render as embeds (each a paragraph of its own), in order."""
    found = []
    for match in _LONE_LINK.finditer(_sanitized(body)):
        url = html.unescape(match.group("href"))
        if url not in found and detect_embed(url) is not None:
            found.append(url)
    return found


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
