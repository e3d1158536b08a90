"""Reader pages: home, the live page, an entry's permalink, the JSON Feed.

Each view only names what it reads (a :class:`~posts.web.caching.CachedRead`)
and how to build it; :func:`posts.web.caching.cached_read` serves it from the
cache, as a 304, or builds it once per blog event.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from posts.delivery.websub import json_feed_hubs
from posts.domain import fact_checks, selectors
from posts.domain.models import Blog, Entry
from posts.domain.rendering import plain_text
from posts.domain.serializers import absolute_url, iso, share_file
from posts.templatetags import live_tags
from posts.web import fragments
from posts.web.caching import (
    BLOGS_SURROGATE_KEY,
    ERROR_CACHE_CONTROL,
    FEED_CACHE_CONTROL,
    CachedRead,
    blog_read,
    blogs_generation,
    cached_read,
    public_blog_of,
    set_last_modified,
    surrogate_key,
)
from posts.web.structured_data import entry_headline, live_page_blocks

HOME_LIMIT = 30
PERMALINK_WINDOW = 10
FEED_SIZE = 50


def reader_view(view):
    """Answer a missing or draft blog (or entry) with a friendly 404 that no
    cache keeps."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            response = render(request, "posts/not_found.html", status=404)
            response["Cache-Control"] = ERROR_CACHE_CONTROL
            return response

    return wrapper


def _blog_read(kind: str, slug: str, variant: str = "") -> CachedRead:
    read = blog_read(kind, slug, variant)
    if read is None:
        raise Http404("No such live blog.")
    return read


def _public_blog_or_404(read: CachedRead) -> Blog:
    blog = public_blog_of(read)
    if blog is None:
        raise Http404("No such live blog.")
    return blog


# --- Home --------------------------------------------------------------------


@reader_view
def home(request: HttpRequest) -> HttpResponse:
    read = CachedRead(kind="home", slug="_all", version=blogs_generation())

    def build() -> HttpResponse:
        blogs = selectors.public_blogs(limit=HOME_LIMIT)
        return render(request, "posts/home.html", {
            "live_blogs": [b for b in blogs if b.status == Blog.Status.LIVE],
            "closed_blogs": [b for b in blogs if b.status == Blog.Status.CLOSED],
        })

    return cached_read(request, read, build, surrogate_keys=[BLOGS_SURROGATE_KEY])


# --- The live page -------------------------------------------------------------


def _bad_request(message: str) -> HttpResponse:
    response = HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = ERROR_CACHE_CONTROL
    return response


@reader_view
def live_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Newest first with ``?before=<cursor>`` for older pages, or oldest
    first (replay) with ``?order=oldest&after=<cursor>``. Any other order is
    a 400 saying which ones exist (docs/questions.md#replay)."""
    order = request.GET.get("order") or "newest"
    if order not in selectors.ORDERS:
        return _bad_request(f"There is no order '{order[:40]}' on this page: use ?order=oldest, or leave "
                            "order out for the newest updates first.")
    oldest = order == "oldest"
    cursor = (request.GET.get("after") if oldest else request.GET.get("before")) or None
    read = _blog_read("live", slug, variant=f"{order}|{cursor or ''}")

    def build() -> HttpResponse:
        blog = public_blog_of(read)
        if blog is None:
            return _upcoming_page(request, slug)
        first_page = cursor is None and not oldest
        try:
            if first_page:  # the page a miss is nearly always for: one query
                page, pinned, key_events = selectors.first_page(blog=blog, limit=_page_size())
            else:
                page = selectors.entries_page(
                    blog=blog, before=None if oldest else cursor, after=cursor if oldest else None,
                    limit=_page_size(), order=order, light=True,
                )
                pinned, key_events = None, None
        except selectors.InvalidCursor:
            return _bad_request("That link to more updates is broken. Go back to the latest updates.")
        timeline = [e for e in page.items if pinned is None or e.pk != pinned.pk]
        on_page = {e.pk for e in page.items}
        last_modified = selectors.blog_last_event_at(blog=blog)
        query = {"order": "oldest", "after": cursor} if oldest else {"before": cursor}
        canonical_query = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
        # The pinned entry leads the JSON-LD's updates when it is not on the page.
        updates = page.items if pinned is None or pinned.pk in on_page else [pinned, *page.items]
        shown = [pinned, *timeline] if pinned is not None else timeline
        made = fragments.page_fragments(shown + page.items)
        # The first picture shown, for sharing cards (from the fragments: the
        # light entries carry no body), with its alt text when it is a photo.
        share = next((made[e.pk] for e in shown if made[e.pk]["images"]), None)
        return _render_blog_page(
            request,
            blog,
            template="posts/live.html",
            context={
                "pinned": pinned,
                "entries": timeline,
                "older_cursor": page.next,
                "first_page": first_page,
                "oldest": oldest,
                "before": cursor,
                "canonical_query": f"?{canonical_query}" if canonical_query else "",
                "share_image": share["images"][0] if share else "",
                "share_image_alt": (share["photo_alt"] or "") if share else "",
                "on_page": on_page,
                "key_events": key_events,
                "last_modified": last_modified,
                "question_form": _question_form_context(blog),
                "jsonld": (
                    live_page_blocks(blog, updates=[made[e.pk] for e in updates], modified=last_modified)
                    if first_page else []
                ),
            },
        )

    return cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)])


def _upcoming_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A draft blog scheduled to open: its title, standfirst and the countdown;
    never its entries (docs/scheduler.md#scheduled-opening)."""
    blog = selectors.upcoming_blog(slug)
    if blog is None:
        raise Http404("No such live blog.")
    response = render(request, "posts/upcoming.html", {
        "blog": blog,
        "page_url": absolute_url(blog.get_absolute_url()),
    })
    return set_last_modified(response, selectors.blog_last_event_at(blog=blog))


def _question_form_context(blog: Blog) -> dict | None:
    """What the "Send a question" form needs, or None where it is not offered."""
    from django.conf import settings

    if not blog.questions_enabled or blog.status != Blog.Status.LIVE:
        return None
    return {"max_chars": settings.LIVEBLOG_QUESTION_MAX_CHARS}


@reader_view
def entry_permalink(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    read = _blog_read("permalink", slug, variant=str(entry_id))

    def build() -> HttpResponse:
        blog = _public_blog_or_404(read)
        window, key_events = selectors.permalink_reads(blog=blog, entry_id=entry_id, size=PERMALINK_WINDOW)
        if window is None:
            if selectors.entry_is_deleted(blog=blog, entry_id=entry_id):
                return render(request, "posts/gone.html", {"slug": slug}, status=410)
            raise Http404("No such update on this live blog.")
        entry = window.entry
        fragments.page_fragments([*window.newer, *window.older])
        focus = fragments.permalink_fragment(entry)
        entry.public_html = focus["html"]
        entries = [*window.newer, entry, *window.older]
        return _render_blog_page(
            request,
            blog,
            template="posts/permalink.html",
            context={
                "entry": entry,
                "focus": focus,
                "entry_url": absolute_url(entry.get_absolute_url()),
                "entries": entries,
                "has_newer": window.has_newer,
                "older_cursor": window.older_cursor,
                "on_page": {e.pk for e in entries},
                "first_page": False,
                "key_events": key_events,
                "jsonld": focus["jsonld"],
            },
        )

    return cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)])


def _render_blog_page(request: HttpRequest, blog: Blog, *, template: str, context: dict) -> HttpResponse:
    on_page = context.get("on_page", set())
    if context.get("pinned") is not None:
        on_page = on_page | {context["pinned"].pk}
    context.setdefault("last_modified", selectors.blog_last_event_at(blog=blog))
    key_events = context.pop("key_events", None)
    if key_events is None:
        key_events = selectors.key_events(blog=blog)
    # The blog's URL once, not a reverse() per link (a dozen on a page).
    blog_url = blog.get_absolute_url()
    response = render(request, template, {
        "blog": blog,
        "blog_url": blog_url,
        "key_events": _key_event_links(blog_url, key_events, on_page),
        "page_url": absolute_url(blog_url),
        **context,
    })
    return set_last_modified(response, context["last_modified"])


def _key_event_links(blog_url: str, key_events: list[Entry], on_page: set[int]) -> SafeString:
    """The key-events list's items (posts/_key_events.html), made here: the
    template's loop, filters and a ``reverse()`` per link were 0.5 ms of a
    cold page, its loop alone still 0.15 ms (bench/PROFILING.md)."""
    return format_html_join(
        "",
        '\n    <li data-key-event="{}"><a href="{}" data-entry-link="{}"><time datetime="{}" data-local="time">{}'
        "</time> <span>{}</span></a></li>",
        (
            (
                e.pk,
                # On the page: a jump; elsewhere: the permalink (the page around it).
                f"#entry-{e.pk}" if e.pk in on_page else f"{blog_url}entries/{e.pk}/#entry-{e.pk}",
                e.pk,
                live_tags.iso(e.published_at),
                live_tags.utc_clock(e.published_at),
                e.summary_text,
            )
            for e in key_events
        ),
    )


def _page_size() -> int:
    from django.conf import settings

    return settings.LIVEBLOG_PAGE_SIZE


# --- JSON Feed 1.1 ---------------------------------------------------------------


@reader_view
def json_feed(request: HttpRequest, slug: str) -> HttpResponse:
    read = _blog_read("jsonfeed", slug)

    def build() -> HttpResponse:
        blog = _public_blog_or_404(read)
        entries = selectors.feed_entries(blog=blog, limit=FEED_SIZE, light=True)
        feed_url = absolute_url(f"/live/{blog.slug}/feed.json")
        data = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": blog.title,
            "home_page_url": absolute_url(blog.get_absolute_url()),
            "feed_url": feed_url,
            "description": plain_text(blog.standfirst_html),
            "language": blog.language,
            "items": fragments.entry_fragments("jsonfeed", entries, _json_feed_item),
        }
        if blog.is_closed:
            data["expired"] = True
        if hubs := json_feed_hubs():  # WebSub discovery (posts/websub.py)
            data["hubs"] = hubs
        response = JsonResponse(data, content_type="application/feed+json; charset=utf-8",
                                json_dumps_params={"ensure_ascii": False})
        return set_last_modified(response, selectors.blog_last_event_at(blog=blog))

    return cached_read(request, read, build, cache_control=FEED_CACHE_CONTROL,
                       surrogate_keys=[surrogate_key(slug)])


def _json_feed_item(entry: Entry) -> dict:
    url = absolute_url(entry.get_absolute_url())
    fact_check_text = fact_checks.summary_text(entry)
    item = {
        "id": url,
        "url": url,
        "title": entry_headline(entry),
        # A fact check leads the item as text (JSON Feed has no field for it).
        "content_html": fact_checks.summary_html(entry) + entry.body_html,
        "content_text": f"{fact_check_text}\n{entry.body_text}" if fact_check_text else entry.body_text,
        "date_published": iso(entry.published_at),
        "date_modified": iso(entry.updated_at or entry.published_at),
        "authors": [{"name": a.name, **({"url": a.url} if a.url else {})} for a in entry.byline],
    }
    if entry.image_id:
        photo = share_file(entry.image)
        item["image"] = photo["url"]
        item["attachments"] = [{
            "url": photo["url"], "mime_type": photo["type"], "size_in_bytes": photo["size"], "title": entry.image.alt,
        }]
    tags = [label for flag, label in ((entry.key_event, "key event"), (entry.kind != "update", entry.kind)) if flag]
    if tags:
        item["tags"] = tags
    return item
