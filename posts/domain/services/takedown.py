"""Deletion is a takedown; a legal erase removes the text from everything
we store (docs/takedown.md)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from liveblog.metrics import timed_service
from posts.domain import permissions
from posts.domain.errors import Conflict, ErrorCode, Invalid
from posts.domain.models import (
    Blog,
    Entry,
    EntryRevision,
    Erasure,
    Event,
    Poll,
    Question,
    WebhookAttempt,
    WebhookDelivery,
)
from posts.domain.serializers import entry_dict
from posts.domain.text import clean_text

from ._writing import snapshot
from .embeds import embeds_drop
from .entries import _locked_entry, _require_entry_rights
from .media import erase_if_unused, withhold_if_unused
from .outbox import hand_off_forget, hand_off_purge, lock_blog, record_event, require

MAX_REASON_CHARS = 2000


def tombstone(entry_id: int) -> dict:
    """What readers get in place of a deleted entry: its id, nothing else."""
    return {"id": entry_id, "deleted": True}


def _without_entry(blog_payload: dict, entry_id: int) -> dict:
    blog = dict(blog_payload)
    if (blog.get("pinned") or {}).get("id") == entry_id:
        blog["pinned"] = None
    blog["key_events"] = [k for k in blog.get("key_events") or [] if k.get("id") != entry_id]
    return blog


def tombstone_events(entry: Entry) -> list[int]:
    """Rewrite the blog's earlier events so none carries the entry's text;
    returns the ids of the events changed.

    Why rewrite the stored payloads, in the delete's transaction, rather
    than filter at read time: ``/updates``, SSE replay and webhook retries
    stay one plain ``SELECT`` of the log (a million readers, no join to
    entries, no per-read check), and the cost is paid once per delete: one
    UPDATE over the blog's events of this entry (``(blog, seq)`` index, then
    a JSON key match) plus a look at its few ``blog.*`` events (their
    ``pinned`` and ``key_events`` can quote the entry). A webhook re-sent
    afterwards reads the rewritten payload, so it carries the tombstone.
    """
    of_entry = Event.objects.filter(blog_id=entry.blog_id, payload__entry__id=entry.pk)
    changed = list(of_entry.values_list("pk", flat=True))
    of_entry.update(payload={"entry": tombstone(entry.pk)})
    blog_events = Event.objects.filter(
        blog_id=entry.blog_id, type__in=[Event.Type.BLOG_UPDATED, Event.Type.BLOG_CLOSED, Event.Type.BLOG_OPENED]
    ).only("pk", "payload")
    for event in blog_events:
        blog = event.payload.get("blog") or {}
        cleaned = _without_entry(blog, entry.pk)
        if cleaned != blog:
            Event.objects.filter(pk=event.pk).update(payload={**event.payload, "blog": cleaned})
            changed.append(event.pk)
    return changed


def _take_down(current: Entry, user) -> None:
    """Mark ``current`` (locked) deleted, tombstone its past, announce it."""
    was_published = current.is_published
    current.status = Entry.Status.DELETED
    current.pinned = False
    current.awaiting_approval = False
    current.version += 1
    current.save()
    snapshot(current, user)
    tombstone_events(current)
    embeds_drop(current)
    # Its photo leaves the public storage unless another published entry shows it.
    withhold_if_unused(current.image_id, slug=current.blog.slug, leaving=current)
    if was_published:
        record_event(blog=current.blog, type=Event.Type.ENTRY_DELETED, payload={"entry": tombstone(current.pk)})
    else:
        hand_off_forget(current.pk)  # its desk card (docs/performance.md)


@timed_service
def entry_delete(*, entry: Entry, user, version: int | None = None) -> Entry:
    """Take an entry down: off every public surface at once (its earlier
    events become tombstones, the deletion event carries ids only); its
    revisions stay for editors until a legal erase."""
    with transaction.atomic():
        lock_blog(entry.blog)
        current = _locked_entry(entry)
        if current.status == Entry.Status.DELETED:
            return current
        _require_entry_rights(user, current)
        if version is not None and version != current.version:
            raise Conflict(
                f"Someone else saved this entry first (version {current.version}).",
                code=ErrorCode.STALE_VERSION,
                current=entry_dict(current),
            )
        _take_down(current, user)
    return current


def entry_erase(*, entry: Entry, user, reason: str) -> Erasure:
    """Legal erase (editors): take the entry down if it is not, then remove
    its text from the entry, its revisions, every event payload, webhook
    delivery records and caches; leave an :class:`Erasure` (who, when, why).
    """
    require(permissions.can_edit_blog, user, entry.blog, "Only editors can erase an entry.")
    reason = clean_text(reason or "", field="reason").strip()
    if not reason:
        raise Invalid("Say why the entry is erased (e.g. the court order or complaint).", field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise Invalid(f"The reason is longer than {MAX_REASON_CHARS:,} characters.", field="reason")
    with transaction.atomic():
        blog: Blog = lock_blog(entry.blog)
        current = _locked_entry(entry)
        if current.status != Entry.Status.DELETED:
            _take_down(current, user)
        # Every text the entry carried: body, headline, fact check, an editor's
        # note on the draft; and the same in each revision.
        Entry.objects.filter(pk=current.pk).update(
            headline="", body="", body_html="", body_text="",
            claim="", claimant="", claim_url="", claim_date=None, verdict="", review_note="",
        )
        EntryRevision.objects.filter(entry=current).update(headline="", body="", fact_check=None)
        # The reader's question it answered was quoted in it (docs/questions.md).
        Question.objects.filter(answer=current).update(name="", body="")
        # Its photo's files go too, unless an entry not deleted still uses it.
        if not erase_if_unused(current.image_id, erased=current):
            Entry.objects.filter(pk=current.pk).update(image=None)
        Poll.objects.filter(entry=current).delete()  # its question and options are the entry's text
        tombstone_events(current)
        # A partner's error reply may quote what we sent it: every event that
        # carried the entry (now tombstones) and the blog's few blog.* events.
        events = Event.objects.filter(blog_id=blog.pk).filter(
            Q(payload__entry__id=current.pk) | Q(type__in=[Event.Type.BLOG_UPDATED, Event.Type.BLOG_CLOSED, Event.Type.BLOG_OPENED])
        )
        WebhookAttempt.objects.filter(delivery__event_id__in=events).update(error="")
        WebhookDelivery.objects.filter(event_id__in=events).update(last_error="")
        erasure = Erasure.objects.create(
            blog=blog,
            blog_slug=blog.slug,
            entry_id=current.pk,
            erased_by=user if getattr(user, "is_authenticated", False) else None,
            erased_by_name=getattr(user, "get_username", lambda: "system")(),
            reason=reason,
        )
        hand_off_purge(blog.slug)
    return erasure
