"""Every state change, each one database transaction that writes the change
and, when readers can see it, its :class:`~posts.models.Event`.

Each service locks the blog's row first. That one lock serializes writers
per blog, so event ``seq`` numbers are handed out and committed in order
with no gaps, and version checks cannot race. Events are handed to the
fan-out only once the transaction commits (transactional outbox; the sweep
in :mod:`posts.tasks` catches any hand-off that was lost).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from . import permissions, selectors
from .errors import Conflict, Invalid, NotAllowed, NotFound, TooLarge
from .models import (
    ApiToken,
    Author,
    Blog,
    Entry,
    EntryRevision,
    Event,
    Membership,
    Role,
)
from .rendering import plain_text, render_markdown
from .serializers import blog_dict, entry_dict

User = get_user_model()


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()
"""Marks a keyword argument the caller did not pass (None can be a value)."""

# A scheduled time this far in the past is taken as "now" (clock skew, slow
# forms); further back it is refused.
SCHEDULE_GRACE = timedelta(minutes=1)


# --- Events ----------------------------------------------------------------


# Blog fields services change with save(); last_seq is only ever bumped in SQL.
_BLOG_FIELDS = ["title", "standfirst", "standfirst_html", "status", "coverage_start", "coverage_end", "modified_at"]


def _lock_blog(blog: Blog) -> Blog:
    locked = Blog.objects.select_for_update().get(pk=blog.pk)
    blog.__dict__.update({f.attname: getattr(locked, f.attname) for f in Blog._meta.concrete_fields})
    return blog


def _record_event(*, blog: Blog, type: str, payload: dict) -> Event:
    """Append to the blog's event log; hand to the fan-out after commit."""
    now = timezone.now()
    Blog.objects.filter(pk=blog.pk).update(last_seq=F("last_seq") + 1, last_event_at=now)
    blog.last_seq = Blog.objects.values_list("last_seq", flat=True).get(pk=blog.pk)
    blog.last_event_at = now
    event = Event.objects.create(blog=blog, seq=blog.last_seq, type=type, payload=payload, created_at=now)
    event_id = event.pk
    transaction.on_commit(lambda: _hand_to_fanout(event_id))
    return event


def _hand_to_fanout(event_id: int) -> None:
    from .fanout import event_committed

    event_committed(event_id)


def _rendered_body(body: str) -> dict[str, str]:
    """An entry's body with the two forms readers get, made once at save:
    sanitized HTML, and plain text for JSON-LD, feeds and push."""
    body_html = render_markdown(body)
    return {"body": body, "body_html": body_html, "body_text": plain_text(body_html)}


def _cache_authors(entry: Entry, authors: list[Author]) -> None:
    """Remember ``entry``'s authors as its byline (:attr:`Entry.byline`), so
    serializing it (the event payload, the API reply) needs no further query."""
    entry._byline = list(authors)


def _entry_event(entry: Entry, type: str) -> Event:
    entry = selectors.entry_with_byline(entry)
    return _record_event(blog=entry.blog, type=type, payload={"entry": entry_dict(entry)})


def _blog_event(blog: Blog, type: str = Event.Type.BLOG_UPDATED) -> Event:
    from .selectors import key_events, pinned_entry

    blog.refresh_from_db()
    payload = {"blog": blog_dict(blog, pinned=pinned_entry(blog=blog), key_events=key_events(blog=blog))}
    # The payload's seq is the event's own: this event is the blog's latest.
    payload["blog"]["seq"] = blog.last_seq + 1
    return _record_event(blog=blog, type=type, payload=payload)


# --- Validation helpers ----------------------------------------------------


def _clean_body(body: str) -> str:
    if not isinstance(body, str) or not body.strip():
        raise Invalid("The body cannot be empty.", field="body")
    if len(body) > settings.LIVEBLOG_MAX_BODY_CHARS:
        raise TooLarge(
            f"The body is {len(body):,} characters; the limit is {settings.LIVEBLOG_MAX_BODY_CHARS:,}.",
            field="body",
        )
    return body.strip()


def _clean_headline(headline: str | None) -> str:
    headline = (headline or "").strip()
    if len(headline) > settings.LIVEBLOG_MAX_HEADLINE_CHARS:
        raise Invalid(
            f"The headline is {len(headline)} characters; the limit is {settings.LIVEBLOG_MAX_HEADLINE_CHARS}.",
            field="headline",
        )
    return headline


def _clean_kind(kind: str) -> str:
    if kind not in Entry.Kind.values:
        raise Invalid(f"Unknown kind '{kind}'; use one of {', '.join(Entry.Kind.values)}.", field="kind")
    return kind


def _clean_publish_at(publish_at: datetime | None) -> datetime:
    if publish_at is None:
        raise Invalid("A scheduled entry needs publish_at.", field="publish_at")
    if timezone.is_naive(publish_at):
        raise Invalid("publish_at needs a time zone (e.g. 2026-11-25T18:00:00Z).", field="publish_at")
    if publish_at < timezone.now() - SCHEDULE_GRACE:
        raise Invalid("publish_at is in the past.", field="publish_at")
    return publish_at


def _authors_for(users, fallback) -> list[Author]:
    people = list(users) if users else [fallback]
    authors = []
    for person in people:
        if isinstance(person, Author):
            authors.append(person)
            continue
        try:
            author = person.author  # cached on the user object after the first look
        except Author.DoesNotExist:
            author, _ = Author.objects.get_or_create(user=person)
        authors.append(author)
    return authors


def _set_new_authors(entry: Entry, authors: list[Author]) -> None:
    """Authors of an entry just created: one insert, no read-back."""
    Through = Entry.authors.through
    Through.objects.bulk_create([Through(entry_id=entry.pk, author_id=a.pk) for a in {a.pk: a for a in authors}.values()])
    _cache_authors(entry, list({a.pk: a for a in authors}.values()))


def _require(check, user, blog: Blog | None, message: str) -> None:
    if not check(user, blog):
        raise NotAllowed(message)


def _snapshot(entry: Entry, user) -> None:
    EntryRevision.objects.create(
        entry=entry,
        version=entry.version,
        headline=entry.headline,
        body=entry.body,
        kind=entry.kind,
        key_event=entry.key_event,
        status=entry.status,
        edited_by=user if getattr(user, "is_authenticated", False) else None,
    )


def _unpin_others(entry: Entry, user) -> None:
    """Unpin whatever is pinned on the blog now, announcing it to readers."""
    for other in Entry.objects.filter(
        blog_id=entry.blog_id, pinned=True, status=Entry.Status.PUBLISHED
    ).exclude(pk=entry.pk):
        other.pinned = False
        other.version += 1
        other.save(update_fields=["pinned", "version", "modified_at"])
        _snapshot(other, user)
        _entry_event(other, Event.Type.ENTRY_UPDATED)


def _go_live(entry: Entry, user, now: datetime) -> None:
    """Publish ``entry`` (saved by the caller) and write its event."""
    if entry.pinned:
        _unpin_others(entry, user)
    entry.status = Entry.Status.PUBLISHED
    entry.published_at = now
    entry.publish_at = None
    entry.awaiting_approval = False


# --- Blogs -----------------------------------------------------------------


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
) -> Blog:
    _require(permissions.can_edit_blog, user, None, "Only editors can create blogs.")
    title = (title or "").strip()
    if not title:
        raise Invalid("The title cannot be empty.", field="title")
    if len(title) > 200:
        raise Invalid("The title is longer than 200 characters.", field="title")
    if status not in {Blog.Status.DRAFT, Blog.Status.LIVE}:
        raise Invalid("A new blog is 'draft' or 'live'.", field="status")
    if standfirst and len(standfirst) > settings.LIVEBLOG_MAX_BODY_CHARS:
        raise TooLarge("The standfirst is too long.", field="standfirst")
    with transaction.atomic():
        if slug:
            if slug != slugify(slug) or len(slug) > 80:
                raise Invalid("A slug is lowercase letters, digits and hyphens (at most 80).", field="slug")
            if Blog.objects.filter(slug=slug).exists():
                raise Conflict(f"The slug '{slug}' is taken.", field="slug")
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
                    coverage_start=coverage_start or (now if status == Blog.Status.LIVE else None),
                )
        except IntegrityError as exc:
            raise Conflict(f"The slug '{slug}' is taken.", field="slug") from exc
        Membership.objects.create(blog=blog, user=user, role=Role.EDITOR)
        _lock_blog(blog)
        _blog_event(blog)
    return blog


def blog_update(
    *,
    blog: Blog,
    user,
    title: str | _Unset = UNSET,
    standfirst: str | _Unset = UNSET,
    status: str | _Unset = UNSET,
    coverage_start: datetime | None | _Unset = UNSET,
) -> Blog:
    """Edit a blog's title, standfirst or coverage start; open or reopen it.

    Closing needs a closing note, so it goes through :func:`blog_close`.
    """
    _require(permissions.can_edit_blog, user, blog, "Only editors can change a blog.")
    with transaction.atomic():
        _lock_blog(blog)
        changed = False
        if title is not UNSET:
            title = (title or "").strip()
            if not title or len(title) > 200:
                raise Invalid("The title must be 1 to 200 characters.", field="title")
            changed |= title != blog.title
            blog.title = title
        if standfirst is not UNSET:
            if len(standfirst or "") > settings.LIVEBLOG_MAX_BODY_CHARS:
                raise TooLarge("The standfirst is too long.", field="standfirst")
            changed |= (standfirst or "") != blog.standfirst
            blog.standfirst = standfirst or ""
            blog.standfirst_html = render_markdown(blog.standfirst)
        if coverage_start is not UNSET:
            changed |= coverage_start != blog.coverage_start
            blog.coverage_start = coverage_start
        if status is not UNSET and status != blog.status:
            if status == Blog.Status.CLOSED:
                raise Invalid("Close a blog with a closing note (POST …/close).", field="status")
            if status not in Blog.Status.values:
                raise Invalid(f"Unknown status '{status}'.", field="status")
            if status == Blog.Status.DRAFT and blog.status != Blog.Status.DRAFT:
                raise Conflict("A blog that has gone live cannot go back to draft.", field="status")
            if status == Blog.Status.LIVE:
                blog.coverage_start = blog.coverage_start or timezone.now()
                blog.coverage_end = None
            blog.status = status
            changed = True
        if not changed:
            return blog
        blog.save(update_fields=_BLOG_FIELDS)
        _blog_event(blog)
    return blog


def blog_open(*, blog: Blog, user) -> Blog:
    """Take a draft blog live, or reopen a closed one."""
    return blog_update(blog=blog, user=user, status=Blog.Status.LIVE)


def blog_close(*, blog: Blog, user, body: str, headline: str = "") -> Entry:
    """Post the closing note, pin it, end coverage and close the blog."""
    _require(permissions.can_edit_blog, user, blog, "Only editors can close a blog.")
    body = _clean_body(body)
    headline = _clean_headline(headline)
    with transaction.atomic():
        _lock_blog(blog)
        if blog.is_closed:
            raise Conflict("This blog is already closed.")
        now = timezone.now()
        entry = Entry(
            blog=blog,
            kind=Entry.Kind.CLOSING,
            headline=headline,
            **_rendered_body(body),
            pinned=True,
            created_by=user,
        )
        _go_live(entry, user, now)
        entry.save()
        _set_new_authors(entry, _authors_for(None, user))
        _snapshot(entry, user)
        _entry_event(entry, Event.Type.ENTRY_PUBLISHED)
        blog.status = Blog.Status.CLOSED
        blog.coverage_start = blog.coverage_start or now
        blog.coverage_end = now
        blog.save(update_fields=_BLOG_FIELDS)
        _blog_event(blog, Event.Type.BLOG_CLOSED)
    return entry


def team_set_member(*, blog: Blog, user, member, role: str) -> Membership:
    _require(permissions.can_edit_blog, user, blog, "Only editors can manage the team.")
    if role not in Role.values:
        raise Invalid(f"Unknown role '{role}'.", field="role")
    Author.objects.get_or_create(user=member)
    membership, _ = Membership.objects.update_or_create(blog=blog, user=member, defaults={"role": role})
    permissions.forget_roles(member)
    return membership


def team_remove_member(*, blog: Blog, user, member) -> None:
    _require(permissions.can_edit_blog, user, blog, "Only editors can manage the team.")
    Membership.objects.filter(blog=blog, user=member).delete()
    permissions.forget_roles(member)


# --- Entries ---------------------------------------------------------------


def entry_create(
    *,
    blog: Blog,
    user,
    body: str,
    headline: str = "",
    kind: str = Entry.Kind.UPDATE,
    key_event: bool = False,
    pinned: bool = False,
    status: str = Entry.Status.PUBLISHED,
    publish_at: datetime | None = None,
    authors=None,
    submit: bool = False,
) -> Entry:
    """Write an entry: published now, scheduled, or kept as a draft.

    A contributor may only write drafts; ``submit=True`` puts the draft in
    the editors' approval queue. A published closing note closes the blog.
    """
    if kind == Entry.Kind.CLOSING and status == Entry.Status.PUBLISHED:
        return blog_close(blog=blog, user=user, body=body, headline=headline)
    _require(permissions.can_write, user, blog, "You are not on this blog's team.")
    body = _clean_body(body)
    headline = _clean_headline(headline)
    kind = _clean_kind(kind)
    if status not in {Entry.Status.DRAFT, Entry.Status.SCHEDULED, Entry.Status.PUBLISHED}:
        raise Invalid("A new entry is 'draft', 'scheduled' or 'published'.", field="status")
    if status != Entry.Status.DRAFT:
        _require(
            permissions.can_publish, user, blog,
            "Contributors cannot publish; save a draft and submit it for approval.",
        )
    if status == Entry.Status.SCHEDULED:
        publish_at = _clean_publish_at(publish_at)
    elif publish_at is not None and status == Entry.Status.PUBLISHED:
        raise Invalid("publish_at goes with status 'scheduled'.", field="publish_at")
    with transaction.atomic():
        _lock_blog(blog)
        if blog.is_closed:
            raise Conflict("This blog is closed; reopen it to post again.")
        entry = Entry(
            blog=blog,
            kind=kind,
            headline=headline,
            **_rendered_body(body),
            key_event=bool(key_event),
            pinned=bool(pinned),
            status=status,
            publish_at=publish_at if status == Entry.Status.SCHEDULED else None,
            awaiting_approval=bool(submit) and status == Entry.Status.DRAFT,
            created_by=user,
        )
        if status == Entry.Status.PUBLISHED:
            _go_live(entry, user, timezone.now())
        entry.save()
        _set_new_authors(entry, _authors_for(authors, user))
        _snapshot(entry, user)
        if entry.is_published:
            _entry_event(entry, Event.Type.ENTRY_PUBLISHED)
    return entry


def _locked_entry(entry: Entry) -> Entry:
    try:
        return Entry.objects.select_for_update().select_related("blog").get(pk=entry.pk)
    except Entry.DoesNotExist as exc:
        raise NotFound("No such entry.") from exc


def _require_entry_rights(user, entry: Entry) -> None:
    """Anyone on the team may change their own unpublished draft; everything
    else (published entries, others' entries) needs a reporter or editor."""
    own_draft = entry.created_by_id == getattr(user, "pk", None) and entry.status in {
        Entry.Status.DRAFT,
    }
    check = permissions.can_write if own_draft else permissions.can_publish
    _require(check, user, entry.blog, "You cannot change this entry.")


def entry_edit(
    *,
    entry: Entry,
    user,
    version: int,
    headline: str | _Unset = UNSET,
    body: str | _Unset = UNSET,
    kind: str | _Unset = UNSET,
    key_event: bool | _Unset = UNSET,
    pinned: bool | _Unset = UNSET,
    status: str | _Unset = UNSET,
    publish_at: datetime | None | _Unset = UNSET,
    authors=UNSET,
) -> Entry:
    """Change an entry, refusing a stale ``version`` with the current one.

    A headline or body change after publication sets ``updated_at`` (the
    "Updated HH:MM" marker); the entry keeps its place in the timeline.
    """
    with transaction.atomic():
        _lock_blog(entry.blog)
        current = _locked_entry(entry)
        if current.status == Entry.Status.DELETED:
            raise Conflict("This entry was deleted.", current=None)
        _require_entry_rights(user, current)
        if version != current.version:
            raise Conflict(
                f"Someone else saved this entry first (you edited version {version}, it is now "
                f"version {current.version}). Review their change and edit again.",
                current=entry_dict(selectors.entry_with_byline(current)),
            )
        was_published = current.is_published
        content_changed = False
        changed = False
        if headline is not UNSET:
            headline = _clean_headline(headline)
            content_changed |= headline != current.headline
            current.headline = headline
        if body is not UNSET:
            body = _clean_body(body)
            if body != current.body:
                content_changed = True
                for field, value in _rendered_body(body).items():
                    setattr(current, field, value)
        changed |= content_changed
        if kind is not UNSET:
            kind = _clean_kind(kind)
            if kind == Entry.Kind.CLOSING and current.kind != Entry.Kind.CLOSING:
                raise Invalid("Close the blog to post a closing note.", field="kind")
            changed |= kind != current.kind
            current.kind = kind
        if key_event is not UNSET:
            changed |= bool(key_event) != current.key_event
            current.key_event = bool(key_event)
        if pinned is not UNSET:
            pinned = bool(pinned)
            if pinned != current.pinned:
                changed = True
                current.pinned = pinned
                if pinned and was_published:
                    _unpin_others(current, user)
        if authors is not UNSET:
            new_authors = _authors_for(authors, user)
            if {a.pk for a in new_authors} != set(current.authors.values_list("pk", flat=True)):
                current.authors.set(new_authors)
                _cache_authors(current, new_authors)
                changed = True
        goes_live = False
        if status is not UNSET and status != current.status:
            if was_published:
                raise Invalid("A published entry cannot go back; delete it instead.", field="status")
            if status == Entry.Status.DELETED:
                raise Invalid("Delete an entry with DELETE.", field="status")
            if status not in Entry.Status.values:
                raise Invalid(f"Unknown status '{status}'.", field="status")
            if status != Entry.Status.DRAFT:
                _require(permissions.can_publish, user, current.blog, "Contributors cannot publish.")
            if current.blog.is_closed and status != Entry.Status.DRAFT:
                raise Conflict("This blog is closed; reopen it to publish.")
            current.status = status
            changed = True
            goes_live = status == Entry.Status.PUBLISHED
            if status == Entry.Status.SCHEDULED:
                current.publish_at = _clean_publish_at(
                    publish_at if publish_at is not UNSET else current.publish_at
                )
        elif publish_at is not UNSET and current.status == Entry.Status.SCHEDULED:
            current.publish_at = _clean_publish_at(publish_at)
            changed = True
        if not changed:
            return current
        now = timezone.now()
        if goes_live:
            _go_live(current, user, now)
        if was_published and content_changed:
            current.updated_at = now
        current.version += 1
        current.save()
        _snapshot(current, user)
        if goes_live:
            _entry_event(current, Event.Type.ENTRY_PUBLISHED)
        elif was_published:
            _entry_event(current, Event.Type.ENTRY_UPDATED)
    return current


def entry_publish(*, entry: Entry, user) -> Entry:
    """Publish a draft or scheduled entry now."""
    with transaction.atomic():
        _lock_blog(entry.blog)
        current = _locked_entry(entry)
        _require(permissions.can_publish, user, current.blog, "Contributors cannot publish.")
        if current.is_published:
            return current
        if current.status == Entry.Status.DELETED:
            raise Conflict("This entry was deleted.")
        if current.blog.is_closed:
            raise Conflict("This blog is closed; reopen it to publish.")
        _go_live(current, user, timezone.now())
        current.version += 1
        current.save()
        _snapshot(current, user)
        _entry_event(current, Event.Type.ENTRY_PUBLISHED)
    return current


def entry_schedule(*, entry: Entry, user, publish_at: datetime) -> Entry:
    return entry_edit(
        entry=entry, user=user, version=entry.version, status=Entry.Status.SCHEDULED, publish_at=publish_at
    )


def entry_submit(*, entry: Entry, user) -> Entry:
    """A contributor hands a draft to the editors' approval queue."""
    with transaction.atomic():
        _lock_blog(entry.blog)
        current = _locked_entry(entry)
        _require_entry_rights(user, current)
        if current.status != Entry.Status.DRAFT:
            raise Conflict("Only drafts can be submitted for approval.")
        current.awaiting_approval = True
        current.save(update_fields=["awaiting_approval", "modified_at"])
    return current


def entry_approve(*, entry: Entry, user) -> Entry:
    """An editor publishes a contributor's submitted draft."""
    _require(permissions.can_edit_blog, user, entry.blog, "Only editors can approve drafts.")
    return entry_publish(entry=entry, user=user)


def entry_delete(*, entry: Entry, user, version: int | None = None) -> Entry:
    """Remove an entry from readers' view; its history stays for editors."""
    with transaction.atomic():
        _lock_blog(entry.blog)
        current = _locked_entry(entry)
        if current.status == Entry.Status.DELETED:
            return current
        _require_entry_rights(user, current)
        if version is not None and version != current.version:
            raise Conflict(
                f"Someone else saved this entry first (version {current.version}).",
                current=entry_dict(current),
            )
        was_published = current.is_published
        current.status = Entry.Status.DELETED
        current.pinned = False
        current.awaiting_approval = False
        current.version += 1
        current.save()
        _snapshot(current, user)
        if was_published:
            _entry_event(current, Event.Type.ENTRY_DELETED)
    return current


def entry_pin(*, entry: Entry, user, pinned: bool = True) -> Entry:
    return entry_edit(entry=entry, user=user, version=entry.version, pinned=pinned)


def entry_set_key_event(*, entry: Entry, user, key_event: bool) -> Entry:
    return entry_edit(entry=entry, user=user, version=entry.version, key_event=key_event)


def publish_due_entries(*, now: datetime | None = None) -> int:
    """Publish scheduled entries whose time has come; returns how many.

    Safe to run from several processes at once: each entry is re-checked
    under its blog's lock, so it is published exactly once.
    """
    now = now or timezone.now()
    published = 0
    due = list(
        Entry.objects.filter(status=Entry.Status.SCHEDULED, publish_at__lte=now).values_list("pk", "blog_id")
    )
    for entry_id, blog_id in due:
        with transaction.atomic():
            blog = Blog.objects.select_for_update().get(pk=blog_id)
            entry = Entry.objects.select_for_update().select_related("blog").get(pk=entry_id)
            if entry.status != Entry.Status.SCHEDULED or blog.is_closed:
                continue
            _go_live(entry, None, now)
            entry.version += 1
            entry.save()
            _snapshot(entry, None)
            _entry_event(entry, Event.Type.ENTRY_PUBLISHED)
            published += 1
    return published


# --- People and tokens -----------------------------------------------------


def author_ensure(*, username: str, role: str | None = None, display_name: str = "") -> Author:
    """The user and their newsroom role, created if missing."""
    if role is not None and role not in Role.values:
        raise Invalid(f"Unknown role '{role}'; use one of {', '.join(Role.values)}.", field="role")
    with transaction.atomic():
        user, _ = User.objects.get_or_create(username=username)
        author, created = Author.objects.get_or_create(
            user=user, defaults={"role": role or Role.REPORTER, "display_name": display_name}
        )
        if not created and role is not None and author.role != role:
            author.role = role
            author.save(update_fields=["role"])
    return author


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """A new API token; the plain key is returned this once and never stored."""
    key = "lb_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=_hash_key(key))
    return token, key


def token_user(key: str):
    """The active user a bearer key belongs to, or None."""
    if not key or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash_key(key), revoked=False, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)


def event_mark_fanned_out(*, event_id: int) -> None:
    Event.objects.filter(pk=event_id, fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())


def get_entry(*, blog: Blog, entry_id: int) -> Entry:
    entry = Entry.objects.select_related("blog").filter(blog=blog, pk=entry_id).first()
    if entry is None or entry.status == Entry.Status.DELETED:
        raise NotFound(f"No entry {entry_id} on this blog.")
    return entry


# --- Fan-out: webhook partners, deliveries, push subscriptions --------------------
# (Imports kept local so this section stays self-contained.)


def _webhook_models():
    from .models import WebhookAttempt, WebhookDelivery, WebhookPartner

    return WebhookPartner, WebhookDelivery, WebhookAttempt


def _clean_partner_fields(*, url=UNSET, blogs=UNSET, event_types=UNSET, name=UNSET) -> dict:
    from .webhooks import check_url

    fields: dict = {}
    if name is not UNSET:
        name = (name or "").strip()
        if len(name) > 120:
            raise Invalid("The name is longer than 120 characters.", field="name")
        fields["name"] = name
    if event_types is not UNSET:
        event_types = list(event_types or [])
        unknown = [t for t in event_types if t not in Event.Type.values]
        if unknown:
            raise Invalid(
                f"Unknown event type '{unknown[0]}'; use any of {', '.join(Event.Type.values)}.",
                field="event_types",
            )
        fields["event_types"] = sorted(set(event_types))
    if blogs is not UNSET:
        slugs = [b.slug if isinstance(b, Blog) else b for b in (blogs or [])]
        found = list(Blog.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {b.slug for b in found})
        if missing:
            raise NotFound(f"No blog '{missing[0]}'.", field="blogs")
        fields["blogs"] = found
    if url is not UNSET:  # last: it resolves the host
        fields["url"] = check_url(url)
    return fields


def webhook_partner_create(*, user, url: str, blogs=(), event_types=(), name: str = ""):
    """Register a partner; returns ``(partner, secret)`` — the secret is shown
    to the caller this once (it is stored to sign with, never listed)."""
    from .webhooks import generate_secret

    WebhookPartner, _, _ = _webhook_models()
    _require(permissions.can_edit_blog, user, None, "Only editors can manage webhook partners.")
    fields = _clean_partner_fields(url=url, blogs=blogs, event_types=event_types, name=name)
    blog_rows = fields.pop("blogs")
    secret = generate_secret()
    with transaction.atomic():
        partner = WebhookPartner.objects.create(
            secret=secret, created_by=user if getattr(user, "is_authenticated", False) else None, **fields
        )
        partner.blogs.set(blog_rows)
    return partner, secret


def webhook_partner_update(*, partner, user, url=UNSET, blogs=UNSET, event_types=UNSET, name=UNSET, active=UNSET):
    WebhookPartner, _, _ = _webhook_models()
    _require(permissions.can_edit_blog, user, None, "Only editors can manage webhook partners.")
    fields = _clean_partner_fields(url=url, blogs=blogs, event_types=event_types, name=name)
    blog_rows = fields.pop("blogs", UNSET)
    with transaction.atomic():
        partner = WebhookPartner.objects.select_for_update().get(pk=partner.pk)
        for key, value in fields.items():
            setattr(partner, key, value)
        if active is not UNSET:
            partner.active = bool(active)
        partner.save()
        if blog_rows is not UNSET:
            partner.blogs.set(blog_rows)
    return partner


def webhook_partner_pause(*, partner, reason: str, user=None):
    """Stop deliveries to a partner (by an editor, or automatically)."""
    WebhookPartner, _, _ = _webhook_models()
    if user is not None:
        _require(permissions.can_edit_blog, user, None, "Only editors can manage webhook partners.")
    with transaction.atomic():
        partner = WebhookPartner.objects.select_for_update().get(pk=partner.pk)
        if partner.paused_at is None:
            partner.paused_at = timezone.now()
            partner.pause_reason = reason
            partner.save(update_fields=["paused_at", "pause_reason"])
    return partner


def webhook_partner_resume(*, partner, user):
    """Deliver again: owed deliveries (kept while paused) become due now."""
    WebhookPartner, WebhookDelivery, _ = _webhook_models()
    _require(permissions.can_edit_blog, user, None, "Only editors can manage webhook partners.")
    with transaction.atomic():
        partner = WebhookPartner.objects.select_for_update().get(pk=partner.pk)
        partner.paused_at = None
        partner.pause_reason = ""
        partner.consecutive_failures = 0
        partner.failing_since = None
        partner.active = True
        partner.save()
        WebhookDelivery.objects.filter(
            partner=partner, status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]
        ).exclude(next_attempt_at__isnull=True).update(next_attempt_at=timezone.now())
    return partner


def webhook_partner_delete(*, partner, user) -> None:
    _require(permissions.can_edit_blog, user, None, "Only editors can manage webhook partners.")
    partner.delete()


def webhook_deliveries_create(*, event: Event) -> list[int]:
    """One delivery per matching partner (idempotent); returns the ids due
    now (partners not paused)."""
    from .fanout import partners_for

    _, WebhookDelivery, _ = _webhook_models()
    partners = partners_for(event)
    if not partners:
        return []
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(partner=p, event=event, msg_id=f"evt_{event.pk}_{p.pk}", next_attempt_at=now)
                for p in partners
            ],
            ignore_conflicts=True,
        )
    return list(
        WebhookDelivery.objects.filter(
            event=event,
            partner__in=[p for p in partners if p.paused_at is None],
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        ).values_list("pk", flat=True)
    )


def webhook_deliveries_claim(*, delivery_ids: list[int], lease_seconds: float) -> list[int]:
    """Take the due ones among ``delivery_ids`` for this worker: their
    ``next_attempt_at`` becomes a lease. Rows already claimed, delivered or
    given up are left out, so two workers never send one row at once."""
    _, WebhookDelivery, _ = _webhook_models()
    now = timezone.now()
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(
            pk__in=delivery_ids,
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
            next_attempt_at__lte=now,
            partner__active=True,
            partner__paused_at__isnull=True,
        )
        ids = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).update(
            next_attempt_at=now + timedelta(seconds=lease_seconds)
        )
    return ids


def webhook_backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, capped: base·2^(n-1), in [½, 1] of it."""
    import random

    delay = min(
        settings.LIVEBLOG_WEBHOOK_BACKOFF_CAP,
        settings.LIVEBLOG_WEBHOOK_BACKOFF_BASE * 2 ** max(0, attempts - 1),
    )
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))


def webhook_attempts_record(*, results) -> None:
    """Log each attempt; settle or reschedule its delivery; keep partner
    health, pausing a partner that has failed for long enough (or answered
    410 Gone). ``results`` carry delivery_id, status_code, error,
    duration_ms and ok. One transaction for the batch."""
    WebhookPartner, WebhookDelivery, WebhookAttempt = _webhook_models()
    if not results:
        return
    now = timezone.now()
    with transaction.atomic():
        deliveries = {
            d.pk: d
            for d in WebhookDelivery.objects.select_for_update().filter(pk__in=[r.delivery_id for r in results])
        }
        partners = {
            p.pk: p
            for p in WebhookPartner.objects.select_for_update().filter(
                pk__in={d.partner_id for d in deliveries.values()}
            )
        }
        attempts = []
        succeeded: dict[int, list[int]] = {}  # status code -> delivery ids
        failed = []
        for result in results:
            delivery = deliveries.get(result.delivery_id)
            if delivery is None:
                continue
            partner = partners[delivery.partner_id]
            attempts.append(
                WebhookAttempt(
                    delivery=delivery, status_code=result.status_code,
                    error=result.error, duration_ms=result.duration_ms,
                )
            )
            delivery.attempts += 1
            delivery.last_status_code = result.status_code
            if result.ok:
                delivery.status = WebhookDelivery.Status.SUCCEEDED
                delivery.delivered_at = now
                delivery.next_attempt_at = None
                delivery.last_error = ""
                partner.consecutive_failures = 0
                partner.failing_since = None
                partner.last_success_at = now
            else:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.last_error = result.error
                gave_up = delivery.attempts >= settings.LIVEBLOG_WEBHOOK_MAX_ATTEMPTS
                delivery.next_attempt_at = None if gave_up else now + webhook_backoff(delivery.attempts)
                partner.consecutive_failures += 1
                partner.failing_since = partner.failing_since or now
                failing_for = (now - partner.failing_since).total_seconds()
                if partner.paused_at is None and result.status_code == 410:
                    partner.paused_at = now
                    partner.pause_reason = (
                        f"Paused automatically at {now:%Y-%m-%d %H:%M} UTC: the partner answered "
                        "410 Gone (it asked us to stop)."
                    )
                elif (
                    partner.paused_at is None
                    and partner.consecutive_failures >= settings.LIVEBLOG_WEBHOOK_PAUSE_MIN_FAILURES
                    and failing_for >= settings.LIVEBLOG_WEBHOOK_PAUSE_AFTER_SECONDS
                ):
                    partner.paused_at = now
                    partner.pause_reason = (
                        f"Paused automatically at {now:%Y-%m-%d %H:%M} UTC after "
                        f"{partner.consecutive_failures} failed deliveries in a row since "
                        f"{partner.failing_since:%Y-%m-%d %H:%M} UTC. Last error: {result.error or 'none'}"
                    )
            if result.ok:
                succeeded.setdefault(result.status_code, []).append(delivery.pk)
            else:
                failed.append(delivery)
        # Set-based writes: a batch of 200 answered deliveries is a handful of
        # statements, not 400 UPDATEs (which held the worker ~1 s per batch
        # in the 1,000-partner bench; bench/PROFILING.md). The rows are locked
        # above, so F("attempts") + 1 equals the count kept in memory.
        for status_code, ids in succeeded.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                attempts=F("attempts") + 1, last_status_code=status_code,
                status=WebhookDelivery.Status.SUCCEEDED, delivered_at=now, next_attempt_at=None, last_error="",
            )
        WebhookDelivery.objects.bulk_update(
            failed, ["attempts", "last_status_code", "status", "delivered_at", "next_attempt_at", "last_error"]
        )
        WebhookAttempt.objects.bulk_create(attempts)
        healthy = {p.pk for p in partners.values() if p.consecutive_failures == 0 and p.last_success_at == now}
        WebhookPartner.objects.filter(pk__in=healthy).update(
            consecutive_failures=0, failing_since=None, last_success_at=now
        )
        WebhookPartner.objects.bulk_update(
            [p for p in partners.values() if p.pk not in healthy],
            ["consecutive_failures", "failing_since", "last_success_at", "paused_at", "pause_reason"],
        )


def push_subscribe(*, blog: Blog, endpoint: str, p256dh: str, auth: str):
    """A reader's browser opts in to the blog's key events and closing note.

    Returns ``(subscription, created)``. The endpoint is called by our
    workers, so it gets the same destination guard as webhook URLs.
    """
    import base64
    import binascii

    from .models import PushSubscription
    from .webhooks import check_url

    if blog.status != Blog.Status.LIVE:
        raise Conflict("This blog is not live; there is nothing to be notified of.")
    endpoint = check_url(endpoint, field="endpoint")
    if not endpoint.startswith("https://") and not settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE:
        raise Invalid("A push endpoint must be https.", field="endpoint")
    for name, value, size in (("p256dh", p256dh, 65), ("auth", auth, 16)):
        try:
            raw = base64.urlsafe_b64decode((value or "") + "=" * (-len(value or "") % 4))
        except (binascii.Error, ValueError, TypeError) as exc:
            raise Invalid(f"keys.{name} is not base64url.", field=f"keys.{name}") from exc
        if len(raw) != size:
            raise Invalid(f"keys.{name} must be {size} bytes.", field=f"keys.{name}")
    with transaction.atomic():
        subscription, created = PushSubscription.objects.update_or_create(
            blog=blog, endpoint=endpoint,
            defaults={"p256dh": p256dh, "auth": auth},
            create_defaults={"p256dh": p256dh, "auth": auth, "last_event_id": blog.events.order_by("-pk").values_list("pk", flat=True).first() or 0},
        )
    return subscription, created


def push_unsubscribe(*, blog: Blog, endpoint: str) -> bool:
    from .models import PushSubscription

    deleted, _ = PushSubscription.objects.filter(blog=blog, endpoint=endpoint).delete()
    return bool(deleted)


def push_claim(*, subscription_id: int, event_id: int) -> bool:
    """Mark ``event_id`` as pushed to this browser; False if it already was
    (each event is pushed at most once per subscription)."""
    from .models import PushSubscription

    return bool(
        PushSubscription.objects.filter(pk=subscription_id, last_event_id__lt=event_id).update(last_event_id=event_id)
    )


def push_subscription_expire(*, subscription_id: int) -> None:
    """The push service says the browser is gone (404/410): forget it."""
    from .models import PushSubscription

    PushSubscription.objects.filter(pk=subscription_id).delete()
