"""The JSON API (django-ninja): cached public reads and the authenticated
write API. Errors are JSON ``{"detail", "code", "field"?, "current"?}``.
Over 400 lines: one NinjaAPI with its error handlers and both routers
read best together. See docs/api.md."""

from __future__ import annotations

import json
import logging
from typing import Literal

import orjson
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer

from posts.delivery import pushmode
from posts.domain import selectors, services
from posts.domain.errors import ErrorCode, Gone, Invalid, NotFound, ServiceError
from posts.domain.models import Blog, Entry
from posts.domain.serializers import blog_dict, entry_dict, erasure_dict
from posts.domain.text import find_unstorable
from posts.web.api.media import router as media_router
from posts.web.api.schemas import (
    BlogCloseIn,
    BlogCreateIn,
    BlogListOut,
    BlogOut,
    BlogPatchIn,
    EntriesPageOut,
    EntryCreateIn,
    EntryOut,
    EntryPatchIn,
    ErasureIn,
    ErasureOut,
    ErrorOut,
    UpdatesOut,
    webhooks_document,
)
from posts.web.api.webhooks import router as webhooks_router
from posts.web.auth import token_auth
from posts.web.caching import (
    BLOGS_SURROGATE_KEY,
    NOT_READ,
    CachedRead,
    blog_read,
    blogs_generation,
    cached_read,
    current_version_with,
    private,
    public_blog_of,
    set_last_modified,
    slot_key,
    surrogate_key,
)
from posts.web.fragments import entry_fragments

log = logging.getLogger(__name__)

UPDATES_LIMIT = 500
# Seconds a client should wait before retrying when the database is away.
DATABASE_RETRY_AFTER = 5
DEFAULT_LIMIT = 20


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status):
        return orjson.dumps(data)


class StorableJSONParser(Parser):
    """JSON in, refusing at the edge any string no text field can hold: an
    unpaired surrogate (valid JSON, ``"\\ud800"``, but not Unicode) or a
    NUL gets a 422 naming the field, before anything tries to encode it."""

    def parse_body(self, request):
        data = json.loads(request.body)
        found = find_unstorable(data)
        if found is not None:
            field, problem = found
            raise Invalid(f"{field or 'The body'} contains {problem}; send valid Unicode text.", field=field or None)
        return data


api = NinjaAPI(
    parser=StorableJSONParser(),
    title="Live blog API",
    version="1",
    description=(
        "Public reads (cached; ETag and 304) and the authenticated write API "
        "(`Authorization: Bearer <token>`; tokens from `manage.py create_api_token`)."
    ),
    renderer=ORJSONRenderer(),
    urls_namespace="api",
    openapi_extra={"webhooks": webhooks_document()},
)

ERRORS = {400: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
                413: ErrorOut, 422: ErrorOut}


# --- Errors ----------------------------------------------------------------------


# The code of an error the framework raises, by status.
_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.NOT_ALLOWED,
    404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 410: ErrorCode.GONE,
    413: ErrorCode.TOO_LARGE, 415: ErrorCode.UNSUPPORTED_MEDIA_TYPE, 422: ErrorCode.INVALID,
    503: ErrorCode.UNAVAILABLE,
}


def _error(request: HttpRequest, status: int, detail: str, *, code: ErrorCode | None = None, **extra) -> HttpResponse:
    code = code or _STATUS_CODES.get(status, ErrorCode.BAD_REQUEST)
    body = {"detail": detail, "code": code, **{k: v for k, v in extra.items() if v is not None}}
    response = api.create_response(request, body, status=status)
    response["Cache-Control"] = "no-cache"
    return response


@api.exception_handler(ServiceError)
def _service_error(request, exc: ServiceError):
    return _error(request, exc.status_code, exc.message, code=exc.code, field=exc.field, current=exc.current)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    problems = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in {"body", "form", "file"}:
            loc = loc[2:] or loc[1:]  # ("body", "payload", "title") → title
        elif loc and loc[0] in {"query", "path", "header", "cookie"}:
            loc = loc[1:]
        field = ".".join(loc) or None
        message = err.get("msg", "invalid value")
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        problems.append({"field": field, "message": message})
    detail = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
    first_field = problems[0]["field"] if problems else None
    return _error(request, 422, f"Invalid request: {detail}", field=first_field, errors=problems)


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    response = _error(request, 401, "Authentication required: send 'Authorization: Bearer <token>' "
                                    "with a valid, unrevoked API token.")
    response["WWW-Authenticate"] = 'Bearer realm="liveblog"'
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ServiceError):  # ninja wraps what the parser raised
        return _service_error(request, exc.__cause__)
    message = str(exc)
    if exc.status_code == 400 and message.startswith("Cannot parse request body"):
        message = "The request body is not valid JSON."
    return _error(request, exc.status_code, message)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return _error(request, 413, "The request body is too large.")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request, exc):
    """The database (or PgBouncer in front of it) cannot be reached: a clear
    503 the client may retry, never a 500 page. Whether a write that failed
    at COMMIT took effect is unknown to the client: retrying an entry create
    may duplicate it, an update carries its version and cannot."""
    log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
    response = _error(request, 503, "The database is unavailable; try again shortly.", code=ErrorCode.UNAVAILABLE)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, str(exc) or "Not found.")


# --- Public reads ----------------------------------------------------------------

blogs = Router(tags=["blogs"])


def _public_blog(read: CachedRead) -> Blog:
    blog = public_blog_of(read)
    if blog is None:
        raise NotFound(f"No live blog '{read.slug}'.")
    return blog


def _json(data, *, blog: Blog | None = None, status: int = 200) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    if blog is not None:
        set_last_modified(response, selectors.blog_last_event_at(blog=blog))
    return response


def _public(response: HttpResponse) -> HttpResponse:
    """Public reads may be fetched from any origin (partners' pages, apps)."""
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _blog_read(kind: str, slug: str, variant: str = "") -> CachedRead:
    read = blog_read(kind, slug, variant)
    if read is None:
        raise NotFound(f"No live blog '{slug}'.")
    return read


def _summary(blog: Blog) -> dict:
    data = blog_dict(blog)
    del data["pinned"], data["key_events"]
    return data


@blogs.get("", response={200: BlogListOut}, summary="Live and recent blogs")
def list_blogs(request):
    """Live blogs first, then recently closed ones (drafts are never listed)."""
    read = CachedRead(kind="api-blogs", slug="_all", version=blogs_generation())

    def build():
        return _json({"items": [_summary(b) for b in selectors.public_blogs(limit=50)]})

    return _public(cached_read(request, read, build, surrogate_keys=[BLOGS_SURROGATE_KEY]))


@blogs.get("/{slug}", response={200: BlogOut, **ERRORS}, summary="One blog, with pinned entry and key events")
def get_blog(request, slug: str):
    read = _blog_read("api-blog", slug)

    def build():
        blog = public_blog_of(read) or selectors.upcoming_blog(slug)
        if blog is None:
            raise NotFound(f"No live blog '{slug}'.")
        if blog.status == Blog.Status.DRAFT:  # scheduled to open: the blog, never its entries
            return _json(blog_dict(blog), blog=blog)
        pinned, key_events = selectors.pinned_and_key_events(blog=blog)
        data = blog_dict(blog, key_events=key_events)
        data["pinned"] = _entry_dicts([pinned])[0] if pinned is not None else None
        return _json(data, blog=blog)

    return _public(cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)]))


def _entry_dicts(entries: list[Entry]) -> list[dict]:
    """Published entries' public shapes, from their fragments (posts/web/fragments.py)."""
    return entry_fragments("api", entries, entry_dict)


@blogs.get("/{slug}/entries", response={200: EntriesPageOut, **ERRORS}, summary="Published entries, newest first (or oldest)")
def list_entries(
    request, slug: str, limit: int = Query(DEFAULT_LIMIT, ge=1, le=selectors.MAX_PAGE_SIZE),
    before: Query[str | None] = None,
    after: Query[str | None] = None,
    order: Query[Literal["newest", "oldest"]] = "newest",
):
    """Cursor pagination: pass the reply's ``next`` as ``before`` until it is
    null; with ``order=oldest`` (replay, oldest first) pass it as ``after``."""
    cursor_field = "after" if order == "oldest" else "before"
    wrong = "before" if order == "oldest" else "after"
    if (before if order == "oldest" else after):
        raise Invalid(f"With order={order} pass the previous page's 'next' as '{cursor_field}', not '{wrong}'.",
                      field=wrong)
    cursor = after if order == "oldest" else before
    read = _blog_read("api-entries", slug, variant=f"{limit}|{order}|{cursor or ''}")

    def build():
        blog = _public_blog(read)
        try:
            page = selectors.entries_page(
                blog=blog, order=order, limit=limit, light=True,
                before=None if order == "oldest" else cursor, after=cursor if order == "oldest" else None,
            )
        except selectors.InvalidCursor as exc:
            raise ServiceError(
                f"{exc}; use the 'next' value of a previous page.", code=ErrorCode.INVALID_CURSOR, field=cursor_field
            ) from exc
        return _json({"items": _entry_dicts(page.items), "next": page.next}, blog=blog)

    return _public(cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)]))


@blogs.get(
    "/{slug}/entries/{entry_id}", response={200: EntryOut, 410: ErrorOut, **ERRORS},
    summary="One published entry (410 once taken down)",
)
def get_entry(request, slug: str, entry_id: int):
    read = _blog_read("api-entry", slug, variant=str(entry_id))

    def build():
        blog = _public_blog(read)
        entry = selectors.published_entry(blog=blog, entry_id=entry_id, light=True)
        if entry is None:
            if selectors.entry_is_deleted(blog=blog, entry_id=entry_id):
                raise Gone(f"Entry {entry_id} on '{slug}' was taken down.")
            raise NotFound(f"No entry {entry_id} on '{slug}'.")
        return _json(_entry_dicts([entry])[0], blog=blog)

    return _public(cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)]))


@blogs.get("/{slug}/updates", response={200: UpdatesOut, **ERRORS}, summary="Events after a seq (polling)")
def get_updates(request, slug: str, since: int = Query(0, ge=0)):
    """The events after ``since``, oldest first, at most 500 (``has_more`` says
    when to ask again from the last one). ``seq`` is the blog's latest. The
    same messages as SSE and webhooks. ``push`` says whether readers should
    hold a stream (``sse``) or poll (``poll``), ``poll_ms`` how often to poll."""
    # The version, the pace and the slot of this since, in one round trip.
    slot = slot_key("api-updates", slug, str(since))
    version, found = current_version_with(slug, [*pushmode.keys(slug), slot])
    if version is None:
        raise NotFound(f"No live blog '{slug}'.")
    # A since beyond the latest seq shares the caught-up reply's cache entry.
    after = min(since, int(version.rsplit(".", 1)[1]))
    pace = pushmode.pace_of(slug, found)
    read = CachedRead(
        kind="api-updates", slug=slug, version=version, variant=f"{after}:{pace.mode}:{pace.poll_ms}",
        slot_variant=str(after), held=found.get(slot) if after == since else NOT_READ,
    )

    def build():
        # One query: the events come with their blog's last seq (the blog is
        # read alone only when there are none).
        events = selectors.public_events_since(slug=slug, since=after, limit=UPDATES_LIMIT + 1)
        last_seq = events[0].blog_last_seq if events else _public_blog(read).last_seq
        events = [e for e in events if e.seq > min(since, last_seq)]
        has_more = len(events) > UPDATES_LIMIT
        events = events[:UPDATES_LIMIT]
        # An event committed between the two reads is newer than the blog row.
        latest = max([last_seq, *(e.seq for e in events)])
        return _json({
            "seq": latest, "events": [e.message for e in events], "has_more": has_more,
            "push": pace.mode, "poll_ms": pace.poll_ms,
        })

    return _public(cached_read(request, read, build, surrogate_keys=[surrogate_key(slug)]))


# --- Authenticated writes ----------------------------------------------------------

# The same router as the reads (Django matches one URL pattern per path, so
# a path's GET and POST must live together); each write names its auth.
writes = blogs
WRITE = {"auth": token_auth, "tags": ["write"]}


def _any_blog(slug: str) -> Blog:
    """Writers see drafts too; permissions are the services' business."""
    blog = selectors.blog_by_slug(slug)
    if blog is None:
        raise NotFound(f"No blog '{slug}'.")
    return blog


def _full_blog(blog: Blog) -> dict:
    return blog_dict(blog, pinned=selectors.pinned_entry(blog=blog), key_events=selectors.key_events(blog=blog))


def _full_entry(entry: Entry) -> dict:
    return entry_dict(selectors.entry_with_byline(entry))  # usually the service left it complete


def _written(data, status: int = 200) -> HttpResponse:
    return private(_json(data, status=status))


@writes.post("", response={201: BlogOut, **WRITE_ERRORS}, summary="Create a blog (editors)", **WRITE)
def create_blog(request, payload: BlogCreateIn):
    blog = services.blog_create(user=request.auth, **payload.model_dump())
    return _written(_full_blog(blog), status=201)


@writes.patch("/{slug}", response={200: BlogOut, **WRITE_ERRORS}, summary="Edit, open or reopen a blog (editors)", **WRITE)
def patch_blog(request, slug: str, payload: BlogPatchIn):
    """Only the fields sent change (the defaults shown are not applied)."""
    blog = services.blog_update(blog=_any_blog(slug), user=request.auth, **payload.model_dump(exclude_unset=True))
    return _written(_full_blog(blog))


@writes.post("/{slug}/close", response={200: BlogOut, **WRITE_ERRORS}, summary="Close a blog with a closing note", **WRITE)
def close_blog(request, slug: str, payload: BlogCloseIn):
    blog = _any_blog(slug)
    services.blog_close(blog=blog, user=request.auth, **payload.model_dump())
    blog.refresh_from_db()
    return _written(_full_blog(blog))


@writes.post(
    "/{slug}/entries/{entry_id}/poll/close", response={200: EntryOut, **WRITE_ERRORS},
    summary="Close an entry's poll (its result freezes)", **WRITE,
)
def close_poll(request, slug: str, entry_id: int):
    entry = selectors.get_entry(blog=_any_blog(slug), entry_id=entry_id)
    poll = entry.reader_poll
    if poll is None:
        raise NotFound("This entry has no poll.")
    services.poll_close(poll=poll, user=request.auth)
    return _written(_full_entry(entry))


@writes.post("/{slug}/entries", response={201: EntryOut, **WRITE_ERRORS}, summary="Post an entry", **WRITE)
def create_entry(request, slug: str, payload: EntryCreateIn):
    """``status`` defaults to ``scheduled`` when ``publish_at`` is given, else ``published``."""
    fields = payload.model_dump()
    if fields["status"] is None:
        fields["status"] = Entry.Status.SCHEDULED if fields["publish_at"] else Entry.Status.PUBLISHED
    entry = services.entry_create(blog=_any_blog(slug), user=request.auth, **fields)
    return _written(_full_entry(entry), status=201)


@writes.patch("/{slug}/entries/{entry_id}", response={200: EntryOut, **WRITE_ERRORS}, summary="Edit an entry", **WRITE)
def patch_entry(request, slug: str, entry_id: int, payload: EntryPatchIn):
    """Send the ``version`` you edited; if someone saved first the reply is
    409 with the entry as it now stands in ``current``. Only the fields sent
    change (the defaults shown are not applied)."""
    entry = selectors.get_entry(blog=_any_blog(slug), entry_id=entry_id)
    entry = services.entry_edit(entry=entry, user=request.auth, **payload.model_dump(exclude_unset=True))
    return _written(_full_entry(entry))


@writes.delete("/{slug}/entries/{entry_id}", response={204: None, **WRITE_ERRORS}, summary="Delete an entry", **WRITE)
def delete_entry(request, slug: str, entry_id: int, version: int | None = Query(None, ge=1)):
    """Optionally pass ``?version=`` to refuse (409) if it changed since you read it."""
    entry = selectors.get_entry(blog=_any_blog(slug), entry_id=entry_id)
    services.entry_delete(entry=entry, user=request.auth, version=version)
    return private(HttpResponse(status=204))


@writes.post(
    "/{slug}/entries/{entry_id}/erase", response={200: ErasureOut, **WRITE_ERRORS},
    summary="Legal erase of an entry (editors)", **WRITE,
)
def erase_entry(request, slug: str, entry_id: int, payload: ErasureIn):
    """Takes the entry down if it is not, then removes its text from
    revisions, event payloads, webhook delivery records and caches. The
    reply is the audit record (who, when, why)."""
    entry = selectors.any_entry(blog=_any_blog(slug), entry_id=entry_id)
    erasure = services.entry_erase(entry=entry, user=request.auth, reason=payload.reason)
    return _written(erasure_dict(erasure))


api.add_router("/blogs", blogs)
api.add_router("/webhooks", webhooks_router)
api.add_router("/media", media_router)
