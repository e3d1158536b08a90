"""Blogs: create, edit, open, close (docs/architecture.md)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from liveblog.metrics import timed_service
from posts.domain import permissions
from posts.domain.errors import Conflict, ErrorCode, Invalid, TooLarge
from posts.domain.languages import normalize_language_tag
from posts.domain.models import (
    Blog,
    Entry,
    Event,
    Membership,
    Role,
    default_language,
)
from posts.domain.rendering import render_markdown
from posts.domain.text import clean_text

from ._writing import (
    SCHEDULE_GRACE,
    authors_for,
    clean_body,
    clean_headline,
    go_live,
    rendered_body,
    set_new_authors,
    snapshot,
)
from .embeds import request_capture
from .outbox import UNSET, _Unset, blog_event, entry_event, lock_blog, require

# Blog fields services change with save(); last_seq is only ever bumped in SQL.
BLOG_FIELDS = [
    "title", "standfirst", "standfirst_html", "status", "coverage_start", "coverage_end", "language",
    "opens_at", "questions_enabled", "show_reader_count", "modified_at",
]


def clean_language(language: str) -> str:
    if not isinstance(language, str):
        raise Invalid("language must be a language tag such as 'en-GB'.", field="language")
    try:
        return normalize_language_tag(language.strip())
    except ValueError as exc:
        raise Invalid(str(exc), field="language") from exc


def _unique_slug(title: str) -> str:
    base = slugify(title)[:70] or "live"
    slug, n = base, 2
    while Blog.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def blog_create(
    *,
    user,
    title: str,
    standfirst: str = "",
    status: str = Blog.Status.DRAFT,
    slug: str | None = None,
    coverage_start: datetime | None = None,
    language: str | None = None,
    opens_at: datetime | None = None,
    questions_enabled: bool = False,
) -> Blog:
    """``language`` (a BCP 47 tag) defaults to the site's ``LANGUAGE_CODE``;
    ``opens_at`` schedules a draft to open (docs/scheduler.md)."""
    require(permissions.can_edit_blog, user, None, "Only editors can create blogs.")
    title = clean_text(title or "", field="title").strip()
    standfirst = clean_text(standfirst or "", field="standfirst")
    if not title:
        raise Invalid("The title cannot be empty.", field="title")
    if len(title) > 200:
        raise Invalid("The title is longer than 200 characters.", field="title")
    if status not in {Blog.Status.DRAFT, Blog.Status.LIVE}:
        raise Invalid("A new blog is 'draft' or 'live'.", field="status")
    if standfirst and len(standfirst) > settings.LIVEBLOG_MAX_BODY_CHARS:
        raise TooLarge("The standfirst is too long.", field="standfirst")
    language = clean_language(language) if language is not None else default_language()
    if opens_at is not None:
        opens_at = clean_opens_at(opens_at, blog=Blog(status=status))
    with transaction.atomic():
        if slug:
            slug = clean_text(slug, field="slug")
            if slug != slugify(slug) or len(slug) > 80:
                raise Invalid("A slug is lowercase letters, digits and hyphens (at most 80).", field="slug")
            if Blog.objects.filter(slug=slug).exists():
                raise Conflict(_("The slug '%(slug)s' is taken.") % {"slug": slug}, code=ErrorCode.SLUG_TAKEN, field="slug")
        else:
            slug = _unique_slug(title)
        now = timezone.now()
        try:
            with transaction.atomic():
                blog = Blog.objects.create(
                    slug=slug,
                    title=title,
                    standfirst=standfirst or "",
                    standfirst_html=render_markdown(standfirst or ""),
                    status=status,
                    language=language,
                    opens_at=opens_at,
                    questions_enabled=bool(questions_enabled),
                    coverage_start=coverage_start or (now if status == Blog.Status.LIVE else None),
                )
        except IntegrityError as exc:
            raise Conflict(_("The slug '%(slug)s' is taken.") % {"slug": slug}, code=ErrorCode.SLUG_TAKEN, field="slug") from exc
        Membership.objects.create(blog=blog, user=user, role=Role.EDITOR)
        lock_blog(blog)
        blog_event(blog)
    return blog


def blog_update(
    *,
    blog: Blog,
    user,
    title: str | _Unset = UNSET,
    standfirst: str | _Unset = UNSET,
    status: str | _Unset = UNSET,
    coverage_start: datetime | None | _Unset = UNSET,
    language: str | _Unset = UNSET,
    opens_at: datetime | None | _Unset = UNSET,
    questions_enabled: bool | _Unset = UNSET,
    show_reader_count: bool | _Unset = UNSET,
) -> Blog:
    """Edit a blog's title, standfirst, language or coverage start; open or
    reopen it; schedule a draft to open at ``opens_at`` (None unschedules);
    turn readers' questions on or off; ``show_reader_count`` shows "N
    reading now" on the public page (docs/polls.md).

    Closing needs a closing note, so it goes through :func:`blog_close`.
    Opening a scheduled blog (now, by an editor) is ``blog.opened``.
    """
    require(permissions.can_edit_blog, user, blog, "Only editors can change a blog.")
    with transaction.atomic():
        lock_blog(blog)
        changed = False
        if title is not UNSET:
            title = clean_text(title or "", field="title").strip()
            if not title or len(title) > 200:
                raise Invalid("The title must be 1 to 200 characters.", field="title")
            changed |= title != blog.title
            blog.title = title
        if standfirst is not UNSET:
            standfirst = clean_text(standfirst or "", field="standfirst")
            if len(standfirst or "") > settings.LIVEBLOG_MAX_BODY_CHARS:
                raise TooLarge("The standfirst is too long.", field="standfirst")
            changed |= (standfirst or "") != blog.standfirst
            blog.standfirst = standfirst or ""
            blog.standfirst_html = render_markdown(blog.standfirst)
        if language is not UNSET:
            language = clean_language(language)
            changed |= language != blog.language
            blog.language = language
        if show_reader_count is not UNSET:
            if not isinstance(show_reader_count, bool):
                raise Invalid("show_reader_count is true or false.", field="show_reader_count")
            changed |= show_reader_count != blog.show_reader_count
            blog.show_reader_count = show_reader_count
        if coverage_start is not UNSET:
            changed |= coverage_start != blog.coverage_start
            blog.coverage_start = coverage_start
        if questions_enabled is not UNSET:
            changed |= bool(questions_enabled) != blog.questions_enabled
            blog.questions_enabled = bool(questions_enabled)
        if opens_at is not UNSET and opens_at != blog.opens_at:
            blog.opens_at = clean_opens_at(opens_at, blog=blog)
            changed = True
        event_type = Event.Type.BLOG_UPDATED
        if status is not UNSET and status != blog.status:
            if status == Blog.Status.CLOSED:
                raise Invalid("Close a blog with a closing note (POST …/close).", field="status")
            if status not in Blog.Status.values:
                raise Invalid(f"Unknown status '{status}'.", field="status")
            if status == Blog.Status.DRAFT and blog.status != Blog.Status.DRAFT:
                raise Conflict(
                    _("A blog that has gone live cannot go back to draft."), code=ErrorCode.BLOG_WENT_LIVE, field="status"
                )
            if status == Blog.Status.LIVE:
                if blog.is_upcoming:
                    event_type = Event.Type.BLOG_OPENED
                blog.coverage_start = blog.coverage_start or timezone.now()
                blog.coverage_end = None
                blog.opens_at = None
            blog.status = status
            changed = True
        if not changed:
            return blog
        blog.save(update_fields=BLOG_FIELDS)
        blog_event(blog, event_type)
    return blog


def clean_opens_at(opens_at: datetime | None, *, blog: Blog) -> datetime | None:
    """A time to open a draft blog: aware, not in the past (a minute of
    grace is taken as now), or None to unschedule."""
    if blog.status != Blog.Status.DRAFT:
        raise Conflict(_("Only a draft blog can be scheduled to open; this one is %(status)s.") % {"status": blog.status},
                       code=ErrorCode.BLOG_WENT_LIVE, field="opens_at")
    if opens_at is None:
        return None
    if not isinstance(opens_at, datetime) or timezone.is_naive(opens_at):
        raise Invalid("opens_at needs a date, a time and a time zone (e.g. 2026-11-25T19:00:00Z).", field="opens_at")
    if opens_at < timezone.now() - SCHEDULE_GRACE:
        raise Invalid("opens_at is in the past.", field="opens_at")
    return opens_at


def open_due_blogs(*, now: datetime | None = None) -> int:
    """Take live every blog scheduled to open by ``now``; returns how many.

    Run by the scheduled-publishing beat task (or the embedded scheduler);
    each blog is re-checked under its lock, so it opens exactly once
    however many processes run this at the same moment.
    """
    now = now or timezone.now()
    opened = 0
    due = list(
        Blog.objects.filter(status=Blog.Status.DRAFT, opens_at__lte=now).values_list("pk", flat=True)
    )
    for blog_id in due:
        with transaction.atomic():
            blog = lock_blog(Blog(pk=blog_id))
            if not blog.is_upcoming or blog.opens_at > now:
                continue
            blog.status = Blog.Status.LIVE
            blog.coverage_start = blog.opens_at
            blog.coverage_end = None
            blog.opens_at = None
            blog.save(update_fields=BLOG_FIELDS)
            blog_event(blog, Event.Type.BLOG_OPENED)
            opened += 1
    return opened


def blog_open(*, blog: Blog, user) -> Blog:
    """Take a draft blog live, or reopen a closed one."""
    return blog_update(blog=blog, user=user, status=Blog.Status.LIVE)


@timed_service
def blog_close(*, blog: Blog, user, body: str, headline: str = "", authors=None) -> Entry:
    """Post the closing note, pin it, end coverage and close the blog."""
    require(permissions.can_close, user, blog, "Only editors can close a blog.")
    body = clean_body(body)
    headline = clean_headline(headline)
    with transaction.atomic():
        lock_blog(blog)
        if blog.is_closed:
            raise Conflict(_("This blog is already closed."), code=ErrorCode.BLOG_ALREADY_CLOSED)
        entry = Entry(blog=blog, kind=Entry.Kind.CLOSING, headline=headline, **rendered_body(body), created_by=user)
        publish_closing(entry, user=user, authors=authors_for(authors, user))
        request_capture(entry)
    return entry


def publish_closing(entry: Entry, *, user, authors=None) -> None:
    """Publish a closing note (new, or a draft or scheduled one) and close its
    blog: the one way a blog closes, whichever path published the note.

    The caller holds the blog's lock and has checked the user may close.
    """
    blog = entry.blog
    if blog.is_closed:
        raise Conflict(_("This blog is already closed."), code=ErrorCode.BLOG_ALREADY_CLOSED)
    now = timezone.now()
    entry.kind = Entry.Kind.CLOSING
    entry.pinned = True
    go_live(entry, user, now)
    if entry.pk is None:
        entry.save()
        set_new_authors(entry, authors or authors_for(None, user))
    else:
        entry.version += 1
        entry.save()
    snapshot(entry, user)
    entry_event(entry, Event.Type.ENTRY_PUBLISHED)
    blog.status = Blog.Status.CLOSED
    blog.coverage_start = blog.coverage_start or now
    blog.coverage_end = now
    blog.save(update_fields=BLOG_FIELDS)
    blog_event(blog, Event.Type.BLOG_CLOSED)
