"""Entries: write, edit, publish, schedule, approve (deleting is in takedown.py)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from liveblog.metrics import timed_service
from posts.domain import permissions, selectors
from posts.domain.errors import Conflict, ErrorCode, Invalid, NotFound
from posts.domain.fact_checks import clean_fact_check
from posts.domain.models import (
    Blog,
    Entry,
    Event,
)
from posts.domain.serializers import entry_dict
from posts.domain.text import clean_text

from ._writing import (
    authors_for,
    cache_authors,
    clean_body,
    clean_headline,
    clean_kind,
    clean_publish_at,
    go_live,
    rendered_body,
    set_new_authors,
    snapshot,
    unpin_others,
)
from .blogs import blog_close, publish_closing
from .embeds import previews_for, request_capture
from .media import clean_image, release_if_withheld, withhold_if_unused
from .outbox import UNSET, _Unset, entry_event, lock_blog, require
from .polls import poll_attach


@timed_service
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
    fact_check: dict | None = None,
    published_at: datetime | None = None,
    image=None,
    poll: dict | None = None,
) -> Entry:
    """Write an entry: published now, scheduled, or kept as a draft.

    A contributor may only write drafts; ``submit=True`` puts the draft in
    the editors' approval queue. Only those who may close write a closing
    note, and publishing one closes the blog. ``fact_check`` (``{claim,
    claimant, claim_url?, claim_date?, verdict}``) makes the entry a fact
    check, its body the explanation. ``poll`` (``{question, options:
    [label…], closes_at?}``) adds a reader poll (docs/polls.md). ``published_at`` (a past time) is for
    imports and the demo blog only; neither the API nor the desk offers it.
    ``image`` is the entry's photo (a Media or its id, docs/media.md).
    """
    if published_at is not None and (status != Entry.Status.PUBLISHED or published_at > timezone.now()):
        raise Invalid("published_at is a past time, for a published entry.", field="published_at")
    if kind == Entry.Kind.CLOSING:
        if fact_check is not None:
            raise Invalid("A closing note cannot carry a fact check.", field="fact_check")
        if poll is not None:
            raise Invalid("A closing note cannot carry a poll.", field="poll")
        require(permissions.can_close, user, blog, "Only editors can write a closing note.")
        if status == Entry.Status.PUBLISHED:
            return blog_close(blog=blog, user=user, body=body, headline=headline, authors=authors)
    require(permissions.can_write, user, blog, "You are not on this blog's team.")
    body = clean_body(body)
    image = clean_image(image, blog=blog)
    headline = clean_headline(headline)
    kind = clean_kind(kind)
    fact_check_columns = clean_fact_check(fact_check)
    if status not in {Entry.Status.DRAFT, Entry.Status.SCHEDULED, Entry.Status.PUBLISHED}:
        raise Invalid("A new entry is 'draft', 'scheduled' or 'published'.", field="status")
    if status != Entry.Status.DRAFT:
        require(
            permissions.can_publish, user, blog,
            "Contributors cannot publish; save a draft and submit it for approval.",
        )
    if status == Entry.Status.SCHEDULED:
        publish_at = clean_publish_at(publish_at)
    elif publish_at is not None and status == Entry.Status.PUBLISHED:
        raise Invalid("publish_at goes with status 'scheduled'.", field="publish_at")
    with transaction.atomic():
        lock_blog(blog)
        if blog.is_closed:
            raise Conflict(_("This blog is closed; reopen it to post again."), code=ErrorCode.BLOG_CLOSED)
        entry = Entry(
            blog=blog,
            kind=kind,
            headline=headline,
            **rendered_body(body),
            **fact_check_columns,
            key_event=bool(key_event),
            pinned=bool(pinned),
            status=status,
            publish_at=publish_at if status == Entry.Status.SCHEDULED else None,
            awaiting_approval=bool(submit) and status == Entry.Status.DRAFT,
            created_by=user,
            image=image,
        )
        if status == Entry.Status.PUBLISHED:
            go_live(entry, user, published_at or timezone.now())
        entry.save()
        set_new_authors(entry, authors_for(authors, user, blog=blog))
        if poll is not None:
            poll_attach(entry, poll)
        snapshot(entry, user)
        if entry.is_published:
            entry_event(entry, Event.Type.ENTRY_PUBLISHED)
        request_capture(entry)
    return entry


def _locked_entry(entry: Entry) -> Entry:
    try:
        return Entry.objects.select_for_update().select_related("blog").get(pk=entry.pk)
    except Entry.DoesNotExist as exc:
        raise NotFound("No such entry.") from exc


def _require_going_live(user, entry: Entry) -> None:
    """Publishing or scheduling ``entry`` (as it will be): a reporter's right,
    an editor's for a closing note or a contributor's submitted draft."""
    require(permissions.can_publish, user, entry.blog, "Contributors cannot publish.")
    if entry.kind == Entry.Kind.CLOSING:
        require(permissions.can_close, user, entry.blog, "Only editors can publish a closing note.")
    if entry.awaiting_approval:
        require(
            permissions.can_approve, user, entry.blog,
            "This draft is waiting for an editor's approval; only an editor can publish it.",
        )


def _require_entry_rights(user, entry: Entry) -> None:
    """Anyone on the team may change their own unpublished draft; everything
    else (published entries, others' entries) needs a reporter or editor."""
    own_draft = entry.created_by_id == getattr(user, "pk", None) and entry.status in {
        Entry.Status.DRAFT,
    }
    check = permissions.can_write if own_draft else permissions.can_publish
    require(check, user, entry.blog, "You cannot change this entry.")


@timed_service
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
    fact_check: dict | None | _Unset = UNSET,
    image=UNSET,
    poll: dict | None | _Unset = UNSET,
) -> Entry:
    """Change an entry, refusing a stale ``version`` with the current one.

    A headline, body or fact-check change after publication sets
    ``updated_at`` (the "Updated HH:MM" marker); the entry keeps its place
    in the timeline. ``fact_check=None`` removes a fact check, ``image=None``
    the photo (withheld unless another published entry shows it); ``poll``
    adds or replaces the entry's poll (its options only until someone
    votes), ``poll=None`` removes it.
    """
    with transaction.atomic():
        lock_blog(entry.blog)
        current = _locked_entry(entry)
        if current.status == Entry.Status.DELETED:
            raise Conflict(_("This entry was deleted."), code=ErrorCode.ENTRY_DELETED, current=None)
        _require_entry_rights(user, current)
        if version != current.version:
            raise Conflict(
                f"Someone else saved this entry first (you edited version {version}, it is now "
                f"version {current.version}). Review their change and edit again.",
                code=ErrorCode.STALE_VERSION,
                current=entry_dict(selectors.entry_with_byline(current)),
            )
        was_published = current.is_published
        content_changed = False
        changed = False
        if headline is not UNSET:
            headline = clean_headline(headline)
            content_changed |= headline != current.headline
            current.headline = headline
        if body is not UNSET:
            body = clean_body(body)
            if body != current.body:
                content_changed = True
                for field, value in rendered_body(body, previews_for(current)).items():
                    setattr(current, field, value)
        if fact_check is not UNSET:
            if fact_check is not None and current.kind == Entry.Kind.CLOSING:
                raise Invalid("A closing note cannot carry a fact check.", field="fact_check")
            for field, value in clean_fact_check(fact_check).items():
                if value != getattr(current, field):
                    content_changed = True
                    setattr(current, field, value)
        if image is not UNSET:
            image = clean_image(image, blog=current.blog)
            if (image.pk if image else None) != current.image_id:
                content_changed = True
                if was_published:
                    withhold_if_unused(current.image_id, slug=current.blog.slug, leaving=current)
                    release_if_withheld(image)
                current.image = image
        if poll is not UNSET:
            if poll is not None and current.kind == Entry.Kind.CLOSING:
                raise Invalid("A closing note cannot carry a poll.", field="poll")
            content_changed |= poll_attach(current, poll)
        changed |= content_changed
        if kind is not UNSET:
            kind = clean_kind(kind)
            if kind == Entry.Kind.CLOSING and current.kind != Entry.Kind.CLOSING and was_published:
                raise Invalid("Close the blog to post a closing note.", field="kind")
            if Entry.Kind.CLOSING in {kind, current.kind} and kind != current.kind:
                require(permissions.can_close, user, current.blog, "Only editors can make a closing note.")
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
                    unpin_others(current, user)
        if authors is not UNSET:
            new_authors = authors_for(authors, user, blog=current.blog, keep=list(current.authors.all()))
            if {a.pk for a in new_authors} != set(current.authors.values_list("pk", flat=True)):
                current.authors.set(new_authors)
                cache_authors(current, new_authors)
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
                _require_going_live(user, current)
            if current.blog.is_closed and status != Entry.Status.DRAFT:
                raise Conflict(_("This blog is closed; reopen it to publish."), code=ErrorCode.BLOG_CLOSED)
            current.status = status
            changed = True
            goes_live = status == Entry.Status.PUBLISHED
            if status == Entry.Status.SCHEDULED:
                current.publish_at = clean_publish_at(
                    publish_at if publish_at is not UNSET else current.publish_at
                )
        elif publish_at is not UNSET and current.status == Entry.Status.SCHEDULED:
            current.publish_at = clean_publish_at(publish_at)
            changed = True
        if not changed:
            return current
        if goes_live and current.kind == Entry.Kind.CLOSING:
            publish_closing(current, user=user)
            return current
        now = timezone.now()
        if goes_live:
            go_live(current, user, now)
        if was_published and content_changed:
            current.updated_at = now
        current.version += 1
        current.save()
        snapshot(current, user)
        if goes_live:
            entry_event(current, Event.Type.ENTRY_PUBLISHED)
        elif was_published:
            entry_event(current, Event.Type.ENTRY_UPDATED)
        request_capture(current)
    return current


@timed_service
def entry_publish(*, entry: Entry, user) -> Entry:
    """Publish a draft or scheduled entry now."""
    with transaction.atomic():
        lock_blog(entry.blog)
        current = _locked_entry(entry)
        _require_going_live(user, current)
        if current.is_published:
            return current
        if current.status == Entry.Status.DELETED:
            raise Conflict(_("This entry was deleted."), code=ErrorCode.ENTRY_DELETED)
        if current.blog.is_closed:
            raise Conflict(_("This blog is closed; reopen it to publish."), code=ErrorCode.BLOG_CLOSED)
        if current.kind == Entry.Kind.CLOSING:
            publish_closing(current, user=user)
            return current
        go_live(current, user, timezone.now())
        current.version += 1
        current.save()
        snapshot(current, user)
        entry_event(current, Event.Type.ENTRY_PUBLISHED)
    return current


def entry_schedule(*, entry: Entry, user, publish_at: datetime) -> Entry:
    return entry_edit(
        entry=entry, user=user, version=entry.version, status=Entry.Status.SCHEDULED, publish_at=publish_at
    )


def entry_submit(*, entry: Entry, user) -> Entry:
    """A contributor hands a draft to the editors' approval queue."""
    with transaction.atomic():
        lock_blog(entry.blog)
        current = _locked_entry(entry)
        _require_entry_rights(user, current)
        if current.status != Entry.Status.DRAFT:
            raise Conflict(_("Only drafts can be submitted for approval."), code=ErrorCode.NOT_A_DRAFT)
        current.awaiting_approval = True
        current.save(update_fields=["awaiting_approval", "modified_at"])
    return current


def entry_return(*, entry: Entry, user, note: str) -> Entry:
    """An editor sends a submitted draft back to its writer with a note.

    Desk-only: the draft leaves the queue and shows the note to its writer,
    who can change it and submit it again. No reader event (drafts are not
    public); the desks see it through their state poll."""
    require(permissions.can_edit_blog, user, entry.blog, "Only editors can send drafts back.")
    note = clean_note(note)
    with transaction.atomic():
        lock_blog(entry.blog)
        current = _locked_entry(entry)
        if current.status != Entry.Status.DRAFT or not current.awaiting_approval:
            raise Conflict("Only drafts waiting for approval can be sent back.")
        current.awaiting_approval = False
        current.review_note = note
        current.review_note_by = user
        current.review_note_at = timezone.now()
        current.save(update_fields=["awaiting_approval", "review_note", "review_note_by", "review_note_at", "modified_at"])
    return current


def clean_note(note: str) -> str:
    note = clean_text(note or "", field="note").strip()
    if not note:
        raise Invalid("Say what to change: the note cannot be empty.", field="note")
    if len(note) > 2000:
        raise Invalid(f"The note is {len(note):,} characters; keep it under 2,000.", field="note")
    return note


def entry_approve(*, entry: Entry, user) -> Entry:
    """An editor publishes a contributor's submitted draft."""
    require(permissions.can_approve, user, entry.blog, "Only editors can approve drafts.")
    return entry_publish(entry=entry, user=user)


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
            published += 1
            if entry.kind == Entry.Kind.CLOSING:
                publish_closing(entry, user=None)  # checked when it was scheduled
                continue
            go_live(entry, None, now)
            entry.version += 1
            entry.save()
            snapshot(entry, None)
            entry_event(entry, Event.Type.ENTRY_PUBLISHED)
    return published
