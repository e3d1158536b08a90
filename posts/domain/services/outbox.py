"""The outbox core: lock a blog, append to its event log, hand the event
to delivery after commit (docs/events.md)."""

from __future__ import annotations

import logging

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from posts.domain import selectors
from posts.domain.errors import NotAllowed
from posts.domain.models import (
    Blog,
    Entry,
    Event,
)
from posts.domain.serializers import blog_dict, entry_dict

log = logging.getLogger(__name__)

# Registered by posts.delivery.tasks (imported in PostsConfig.ready).
FAN_OUT_TASK = "posts.delivery.tasks.fan_out_task"
PURGE_TASK = "posts.delivery.tasks.purge_blog_task"
FORGET_TASK = "posts.delivery.tasks.forget_entry_fragments_task"

# The hand-off runs in the request that committed: with the broker down it
# tries once more at once and gives up (Celery's default retries for ~0.6 s
# more); the event stays unconfirmed and the sweep re-sends it.
HANDOFF_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()
"""Marks a keyword argument the caller did not pass (None can be a value)."""


def lock_blog(blog: Blog) -> Blog:
    locked = Blog.objects.select_for_update().get(pk=blog.pk)
    blog.__dict__.update({f.attname: getattr(locked, f.attname) for f in Blog._meta.concrete_fields})
    return blog


def record_event(*, blog: Blog, type: str, payload: dict) -> Event:
    """Append to the blog's event log; hand to the fan-out after commit."""
    now = timezone.now()
    Blog.objects.filter(pk=blog.pk).update(last_seq=F("last_seq") + 1, last_event_at=now)
    blog.last_seq = Blog.objects.values_list("last_seq", flat=True).get(pk=blog.pk)
    blog.last_event_at = now
    event = Event.objects.create(blog=blog, seq=blog.last_seq, type=type, payload=payload, created_at=now)
    event_id = event.pk
    transaction.on_commit(lambda: hand_off(event_id))
    return event


def hand_off(event_id: int) -> None:
    """Enqueue the fan-out of a committed event, by task name (the domain
    imports nothing of delivery). A broker that is down is logged and left
    to the sweep: the event stays unconfirmed until a fan-out confirms it."""
    try:
        current_app.tasks[FAN_OUT_TASK].apply_async((event_id,), retry_policy=HANDOFF_RETRY_POLICY)
    except Exception:  # noqa: BLE001 - any broker failure; the sweep retries
        log.warning("could not enqueue fan-out for event %s; the sweep will", event_id, exc_info=True)


def hand_off_purge(slug: str, *, keys: list[str] = ()) -> None:
    """After commit, have delivery drop every cached copy of the blog's
    reads (stored responses, CDN): a legal erase leaves no cached text.
    ``keys``: more CDN surrogate keys to purge (a photo taken down)."""
    extra = list(keys)

    def enqueue() -> None:
        try:
            current_app.tasks[PURGE_TASK].apply_async((slug, extra), retry_policy=HANDOFF_RETRY_POLICY)
        except Exception:  # noqa: BLE001 - cached copies still expire (RESPONSE_TTL)
            log.warning("could not enqueue the cache purge of %s", slug, exc_info=True)

    transaction.on_commit(enqueue)


def hand_off_forget(entry_id: int) -> None:
    """After commit, have delivery delete the cached renderings of an entry
    taken down without a reader event (a draft or a scheduled entry: its desk
    card), as the fan-out of ``entry.deleted`` does for a published one."""

    def enqueue() -> None:
        try:
            current_app.tasks[FORGET_TASK].apply_async((entry_id,), retry_policy=HANDOFF_RETRY_POLICY)
        except Exception:  # noqa: BLE001 - the card still expires (fragments.FRAGMENT_TTL)
            log.warning("could not enqueue forgetting entry %s's fragments", entry_id, exc_info=True)

    transaction.on_commit(enqueue)


def entry_event(entry: Entry, type: str) -> Event:
    entry = selectors.entry_with_byline(entry)
    return record_event(blog=entry.blog, type=type, payload={"entry": entry_dict(entry)})


def blog_event(blog: Blog, type: str = Event.Type.BLOG_UPDATED) -> Event:
    blog.refresh_from_db()
    payload = {"blog": blog_dict(blog, pinned=selectors.pinned_entry(blog=blog), key_events=selectors.key_events(blog=blog))}
    # The payload's seq is the event's own: this event is the blog's latest.
    payload["blog"]["seq"] = blog.last_seq + 1
    return record_event(blog=blog, type=type, payload=payload)


def require(check, user, blog: Blog | None, message: str) -> None:
    if not check(user, blog):
        raise NotAllowed(message)
