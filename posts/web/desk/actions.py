"""Which buttons a person gets on a desk card, and where the card sits.

The services decide for real (posts/domain/permissions.py); these rules only
hide buttons a person could not use."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from posts.domain import permissions
from posts.domain.models import Entry


@dataclass
class EntryActions:
    edit: bool
    publish: bool
    approve: bool
    send_back: bool
    submit: bool
    pin: bool
    place: str  # "queue" (editors' approval queue), "pending" (drafts, scheduled) or "timeline"
    url: str = ""  # the entry's desk address; its actions are under it (posts/web/desk/urls.py)


def entry_actions(entry: Entry, *, user, role: str | None) -> EntryActions:
    allowed = permissions.TABLE.get(role, frozenset())
    publisher = permissions.Action.PUBLISH in allowed
    own_draft = entry.created_by_id == user.pk and entry.status == Entry.Status.DRAFT
    unpublished = entry.status in {Entry.Status.DRAFT, Entry.Status.SCHEDULED}
    approve = permissions.Action.APPROVE in allowed and entry.awaiting_approval
    goes_live = (
        publisher
        and not entry.awaiting_approval
        and (entry.kind != Entry.Kind.CLOSING or permissions.Action.CLOSE in allowed)
    )
    if approve:
        place = "queue"
    elif unpublished:
        place = "pending"
    else:
        place = "timeline"
    return EntryActions(
        edit=publisher or (own_draft and role is not None),
        publish=goes_live and unpublished,
        approve=approve,
        send_back=approve,
        submit=own_draft and not publisher and not entry.awaiting_approval,
        pin=publisher and entry.is_published,
        place=place,
    )


def decorate(entries: list[Entry], *, user, role: str | None) -> list[Entry]:
    """Attach :class:`EntryActions` as ``entry.desk`` for the card template,
    with the entry's address: a card's eight ``{% url %}`` tags were a third
    of rendering it (bench/PROFILING.md), so one ``reverse()`` per blog."""
    blogs: dict[str, str] = {}
    for entry in entries:
        slug = entry.blog.slug
        if slug not in blogs:
            blogs[slug] = reverse("desk:blog", kwargs={"slug": slug}) + "entries/"
        entry.desk = entry_actions(entry, user=user, role=role)
        entry.desk.url = f"{blogs[slug]}{entry.pk}/"
    return entries
