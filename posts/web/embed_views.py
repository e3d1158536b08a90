"""The live blog on other sites: the frameable widget page, its loader
script, and the oEmbed provider (docs/embeds.md).

The widget page is the only page another site may frame (CSP
``frame-ancestors`` from ``LIVEBLOG_EMBED_FRAME_ANCESTORS``); it is cached
and purged like the live page (same blog version, same surrogate key).
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_GET
from django.views.static import serve

from posts.domain import selectors
from posts.domain.errors import ErrorCode
from posts.domain.serializers import absolute_url
from posts.web.caching import blog_read, cached_read, public_blog_of, surrogate_key
from posts.web.views import _public_blog_or_404, reader_view

# The oEmbed answer's default size (CSS pixels); maxwidth/maxheight lower it.
OEMBED_WIDTH = 600
OEMBED_HEIGHT = {"blog": 800, "entry": 400}
OEMBED_CACHE_AGE = 300
WIDGET_SCRIPT = "live/widget.js"
WIDGET_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=3600"


def frameable(view):
    """Let the sites in LIVEBLOG_EMBED_FRAME_ANCESTORS frame this view's
    pages (every other page keeps ``frame-ancestors 'none'`` and
    ``X-Frame-Options: DENY``)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response._csp_replace = {"frame-ancestors": list(settings.LIVEBLOG_EMBED_FRAME_ANCESTORS)}
        response.xframe_options_exempt = True
        return response

    return wrapper


def _entry_param(request: HttpRequest) -> int | None:
    raw = request.GET.get("entry")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise Http404("No such update.")
    return int(raw)


@require_GET
@frameable
@reader_view
def embed_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The widget: the latest LIVEBLOG_EMBED_ENTRIES entries (or one, with
    ``?entry=<id>``), live through the reader script, no site chrome."""
    entry_id = _entry_param(request)
    read = blog_read("embed", slug, variant=str(entry_id or ""))
    if read is None:
        raise Http404("No such live blog.")

    def build() -> HttpResponse:
        blog = _public_blog_or_404(read)
        pinned = None
        if entry_id is not None:
            entry = selectors.published_entry(blog=blog, entry_id=entry_id)
            if entry is None:
                if selectors.entry_is_deleted(blog=blog, entry_id=entry_id):
                    return render(request, "posts/embed_gone.html", {"blog": blog}, status=410)
                raise Http404("No such update on this live blog.")
            entries = [entry]
        else:
            page = selectors.entries_page(blog=blog, limit=settings.LIVEBLOG_EMBED_ENTRIES)
            pinned = selectors.pinned_entry(blog=blog)
            entries = [e for e in page.items if pinned is None or e.pk != pinned.pk]
        return render(request, "posts/embed.html", {
            "blog": blog,
            "pinned": pinned,
            "entries": entries,
            "single": entry_id is not None,
            "page_url": absolute_url(blog.get_absolute_url()),
            "live": entry_id is None and not blog.is_closed,
            "max_entries": settings.LIVEBLOG_EMBED_ENTRIES,
        })

    return cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)])


@functools.cache
def _widget_source() -> bytes:
    with open(finders.find(WIDGET_SCRIPT), "rb") as source:
        return source.read()


@require_GET
def widget_script(request: HttpRequest) -> HttpResponse:
    """The snippet's script at a stable address (static files carry a
    fingerprint in their names; a partner's page cannot follow it)."""
    response = HttpResponse(_widget_source(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = WIDGET_CACHE_CONTROL
    return response


def snippet(slug: str, *, entry_id: int | None = None, title: str = "", width: int | None = None,
            height: int = 600) -> str:
    """The copy-paste HTML that puts a blog (or one entry) on another site:
    an iframe the loader script sizes to its content."""
    src = absolute_url(f"/live/{slug}/embed/") + (f"?entry={entry_id}" if entry_id else "")
    entry_attr = f' data-liveblog-entry="{entry_id}"' if entry_id else ""
    width_attr = f' width="{width}"' if width else ""
    label = html.escape(f"{title} (live blog)" if title else "Live blog", quote=True)
    return (
        f'<div data-liveblog="{html.escape(slug, quote=True)}"{entry_attr}>'
        f'<iframe src="{html.escape(src, quote=True)}" title="{label}"{width_attr} height="{height}" '
        f'style="border:0;width:100%" loading="lazy"></iframe></div>'
        f'<script async src="{html.escape(absolute_url("/embed.js"), quote=True)}"></script>'
    )


@require_GET
def embed_media(request: HttpRequest, path: str) -> HttpResponse:
    """A captured thumbnail from MEDIA_ROOT/embeds (names carry their
    content's hash). Revalidated on every use (Last-Modified), so the 404
    that follows a takedown is seen at once."""
    response = serve(request, path, document_root=Path(settings.MEDIA_ROOT) / "embeds")
    response["Cache-Control"] = "public, no-cache"
    return response


# --- oEmbed (https://oembed.com/) ---------------------------------------------------


def _error(status: int, code: ErrorCode | str, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": str(code)}, status=status)
    response["Cache-Control"] = "no-cache"
    return response


def _dimension(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) <= 10_000:
        raise ValueError(f"{name} is a whole number of pixels from 1 to 10000.")
    return int(raw)


def _our_page(url: str, request: HttpRequest) -> tuple[str, int | None] | None:
    """``(slug, entry id or None)`` when ``url`` is one of our live pages,
    permalinks or widgets, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    ours = {urlsplit(settings.LIVEBLOG_SITE_URL).netloc, request.get_host()}
    if parts.scheme not in {"http", "https"} or parts.netloc not in ours:
        return None
    try:
        match = resolve(parts.path or "/")
    except Resolver404:
        return None
    if match.url_name == "entry-permalink":
        return match.kwargs["slug"], match.kwargs["entry_id"]
    if match.url_name in {"live-page", "embed-page"}:
        return match.kwargs["slug"], None
    return None


@require_GET
def oembed(request: HttpRequest) -> HttpResponse:
    """``/oembed?url=<live page or permalink>&format=json``: a ``rich``
    answer whose ``html`` is the widget snippet."""
    if request.GET.get("format", "json") != "json":
        return _error(501, ErrorCode.NOT_IMPLEMENTED, "Only format=json is served.")
    url = request.GET.get("url", "")
    if not url:
        return _error(400, ErrorCode.BAD_REQUEST,
                      "Give the address of a live blog or one of its updates: /oembed?url=<address>&format=json.")
    try:
        maxwidth, maxheight = _dimension(request, "maxwidth"), _dimension(request, "maxheight")
    except ValueError as exc:
        return _error(400, ErrorCode.BAD_REQUEST, str(exc))
    target = _our_page(url, request)
    if target is None:
        return _error(404, ErrorCode.NOT_FOUND, "That address is not a live blog or an update on this site.")
    slug, entry_id = target
    read = blog_read("oembed", slug, variant=f"{entry_id}:{maxwidth}:{maxheight}")
    if read is None:
        return _error(404, ErrorCode.NOT_FOUND, "No such live blog.")

    def build() -> HttpResponse:
        blog = public_blog_of(read)
        if blog is None:
            return _error(404, ErrorCode.NOT_FOUND, "No such live blog.")
        title = blog.title
        if entry_id is not None:
            entry = selectors.published_entry(blog=blog, entry_id=entry_id)
            if entry is None:
                if selectors.entry_is_deleted(blog=blog, entry_id=entry_id):
                    return _error(410, ErrorCode.GONE, "This update was removed.")
                return _error(404, ErrorCode.NOT_FOUND, "No such update on this live blog.")
            title = entry.summary_text or blog.title
        width = min(OEMBED_WIDTH, maxwidth or OEMBED_WIDTH)
        height = min(OEMBED_HEIGHT["entry" if entry_id else "blog"], maxheight or 10_000)
        return JsonResponse({
            "version": "1.0",
            "type": "rich",
            "title": title,
            "provider_name": settings.LIVEBLOG_PUBLISHER_NAME,
            "provider_url": settings.LIVEBLOG_PUBLISHER_URL,
            "cache_age": OEMBED_CACHE_AGE,
            "html": snippet(slug, entry_id=entry_id, title=blog.title, width=width, height=height),
            "width": width,
            "height": height,
        }, json_dumps_params={"ensure_ascii": False})

    return cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)])

