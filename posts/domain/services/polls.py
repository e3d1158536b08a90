"""Reader polls: attach one to an entry, close it, count a vote, flush the
counted votes (docs/polls.md). A poll's creation and its close are entry
events in the entry's transaction; a vote makes no event, the flush hands
the changed tallies to delivery (``poll.updated``, at most once a second)."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from liveblog.metrics import timed_service
from posts.domain import permissions, polls
from posts.domain.errors import Conflict, ErrorCode, Invalid, NotFound, ServiceError, TooManyRequests
from posts.domain.models import Blog, Entry, Event, Poll, PollOption

from ._writing import snapshot
from .outbox import HANDOFF_RETRY_POLICY, entry_event, lock_blog, require

log = logging.getLogger(__name__)

# Registered by posts.delivery.tasks: publishes poll.updated for these polls.
TALLIES_TASK = "posts.delivery.tasks.poll_tallies_task"


def poll_attach(entry: Entry, poll: dict | None) -> bool:
    """Give ``entry`` (saved, its blog locked) the poll ``poll`` describes,
    replacing one nobody has voted in yet; None removes it. True if the
    entry's poll changed. For entry_create and entry_edit."""
    current = Poll.objects.filter(entry=entry).prefetch_related("options").first()
    if poll is None:
        if current is None:
            return False
        _require_no_votes(current)
        current.delete()
        return True
    parts = polls.clean_poll(poll)
    if current is not None:
        same = (
            current.question == parts.question
            and [o.label for o in current.options.all()] == parts.labels
            and current.closes_at == parts.closes_at
        )
        if same:
            return False
        if current.closed_at is not None:
            raise Conflict(_("This poll is closed; its result stays as it is."), code=ErrorCode.POLL_CLOSED)
        if [o.label for o in current.options.all()] == parts.labels:
            # Question or closing time only: the votes stay with their options.
            current.question, current.closes_at = parts.question, parts.closes_at
            current.save(update_fields=["question", "closes_at"])
            polls.forget_meta(current.pk)
            return True
        _require_no_votes(current)
        current.delete()
    created = Poll.objects.create(entry=entry, question=parts.question, closes_at=parts.closes_at)
    PollOption.objects.bulk_create(
        [PollOption(poll=created, position=i, label=label) for i, label in enumerate(parts.labels)]
    )
    return True


def _require_no_votes(poll: Poll) -> None:
    if sum(polls.running_totals(poll).values()):
        raise Conflict(
            _("Readers have voted in this poll: its options cannot change now. Close it, or post a new poll."),
            code=ErrorCode.POLL_HAS_VOTES,
            field="poll",
        )


@timed_service
def poll_close(*, poll: Poll, user) -> Poll:
    """Close a poll now: its result freezes (votes after this get 409)."""
    require(permissions.can_publish, user, poll.entry.blog, "Only reporters and editors can close a poll.")
    with transaction.atomic():
        lock_blog(poll.entry.blog)
        current = Poll.objects.select_for_update().select_related("entry__blog").filter(pk=poll.pk).first()
        if current is None:
            raise NotFound("No such poll.")
        if current.closed_at is None:
            _close(current, user, now=timezone.now())
    return current


def _close(poll: Poll, user, *, now: datetime) -> None:
    """Freeze ``poll`` (locked, its blog locked): refuse votes, count the last
    ones, and announce the entry with its final tallies."""
    poll_id = poll.pk
    polls.freeze(poll)
    try:
        polls.flush_poll(poll, until=poll.closes_at if poll.closes_at and poll.closes_at < now else now)
    except Exception:
        polls.unfreeze_after_rollback(poll_id)
        raise
    poll.closed_at = min(now, poll.closes_at) if poll.closes_at else now
    poll.save(update_fields=["closed_at"])
    polls.forget_meta(poll_id)
    entry = Entry.objects.select_for_update().select_related("blog").get(pk=poll.entry_id)
    if entry.status == Entry.Status.DELETED:
        return
    entry.version += 1
    entry.save(update_fields=["version", "modified_at"])
    snapshot(entry, user)
    if entry.is_published:
        entry_event(entry, Event.Type.ENTRY_UPDATED)
    transaction.on_commit(lambda: hand_off_tallies([poll_id]))


def poll_vote(
    *, slug: str, poll_id: int, option_id, address: str, meta: polls.PollMeta | None = None
) -> tuple[polls.PollMeta, dict[int, int] | None]:
    """Count a reader's vote (no login, no row lock): the caller has checked
    that this browser has not voted. Returns the poll's metadata and, with
    Redis, the running totals counted with the vote (no database query).
    ``meta``: the poll's metadata when the caller holds it (the ASGI hot path)."""
    may_query = meta is None
    meta = meta or polls.poll_meta(poll_id)
    if meta is None or meta.slug != slug or not meta.public:
        raise NotFound(_("There is no such poll on this live blog."))
    try:
        option_id = int(option_id)
    except (TypeError, ValueError):
        option_id = None
    if option_id not in meta.option_ids:
        raise Invalid(_("Choose one of the poll's options."), field="option")
    if meta.closed or (meta.closes_at is not None and meta.closes_at <= timezone.now()):
        raise Conflict(_("Voting in this poll has closed."), code=ErrorCode.POLL_CLOSED)
    try:
        totals = polls.count_vote(
            poll_id=poll_id, option_id=option_id, address=address or "unknown", may_query=may_query
        )
    except polls.Refused as refused:
        if refused.reason == "seed":
            raise ServiceError("The poll's count must be read from the database first.") from None
        if refused.reason == "closed":
            raise Conflict(_("Voting in this poll has closed."), code=ErrorCode.POLL_CLOSED) from None
        raise TooManyRequests(_("Too many votes from your network just now; try again in a minute.")) from None
    return meta, totals


def polls_flush(*, now: datetime | None = None) -> list[int]:
    """Write counted votes to the database and close polls whose time has
    come; hand the changed tallies to delivery. Returns the polls changed.
    Safe to run from several processes at once (each poll is flushed under
    its row lock; the Redis totals are absolute, so a second flush is a no-op).
    """
    now = now or timezone.now()
    changed: list[int] = []
    for poll_id in polls.take_dirty_polls():
        with transaction.atomic():
            poll = Poll.objects.select_for_update().filter(pk=poll_id).first()
            if poll is None or poll.closed_at is not None:
                continue
            if polls.flush_poll(poll):
                changed.append(poll_id)
    polls.done_with_dirty()
    due = Poll.objects.filter(closed_at__isnull=True, closes_at__lte=now).values_list("pk", "entry__blog_id")
    for poll_id, blog_id in list(due):
        with transaction.atomic():
            Blog.objects.select_for_update().filter(pk=blog_id).first()
            poll = Poll.objects.select_for_update().filter(pk=poll_id, closed_at__isnull=True).first()
            if poll is not None:
                _close(poll, None, now=now)
                changed.append(poll_id)
    if changed:
        hand_off_tallies(changed)
    return changed


def hand_off_tallies(poll_ids: list[int]) -> None:
    """Have delivery publish ``poll.updated`` for these polls (by task name:
    the domain imports nothing of delivery). Lost with the broker: the
    next flush that moves a tally sends the newest one anyway."""
    try:
        current_app.tasks[TALLIES_TASK].apply_async((sorted(set(poll_ids)),), retry_policy=HANDOFF_RETRY_POLICY)
    except Exception:  # noqa: BLE001 - tallies are superseded by the next ones
        log.warning("could not enqueue poll tallies for %s", poll_ids, exc_info=True)
