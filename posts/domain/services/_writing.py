"""Parts of writing an entry shared by the blog and entry services:
text rules, bylines, revisions, going live."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from posts.domain.errors import Invalid, NotTeamMember, TooLarge
from posts.domain.models import (
    Author,
    Entry,
    EntryRevision,
    Event,
    Membership,
)
from posts.domain.rendering import plain_text, render_markdown
from posts.domain.text import clean_text

from .media import release_if_withheld
from .outbox import entry_event

# A scheduled time this far in the past is taken as "now" (clock skew, slow
# forms); further back it is refused.
SCHEDULE_GRACE = timedelta(minutes=1)

User = get_user_model()


def rendered_body(body: str, previews: dict[str, dict] | None = None) -> dict[str, str]:
    """An entry's body with the two forms readers get, made once at save:
    sanitized HTML (facades for the embeds in ``previews``), and plain text
    for JSON-LD, feeds and push."""
    body_html = render_markdown(body, previews)
    return {"body": body, "body_html": body_html, "body_text": plain_text(body_html)}


def cache_authors(entry: Entry, authors: list[Author]) -> None:
    """Remember ``entry``'s authors as its byline (:attr:`Entry.byline`), so
    serializing it (the event payload, the API reply) needs no further query."""
    entry._byline = list(authors)


def clean_body(body: str, *, field: str = "body") -> str:
    body = clean_text(body, field=field)
    if not body.strip():
        raise Invalid(f"The {field} cannot be empty.", field=field)
    if len(body) > settings.LIVEBLOG_MAX_BODY_CHARS:
        raise TooLarge(
            f"The body is {len(body):,} characters; the limit is {settings.LIVEBLOG_MAX_BODY_CHARS:,}.",
            field=field,
        )
    return body.strip()


def clean_headline(headline: str | None) -> str:
    headline = clean_text(headline or "", field="headline").strip()
    if len(headline) > settings.LIVEBLOG_MAX_HEADLINE_CHARS:
        raise Invalid(
            f"The headline is {len(headline)} characters; the limit is {settings.LIVEBLOG_MAX_HEADLINE_CHARS}.",
            field="headline",
        )
    return headline


def clean_kind(kind: str) -> str:
    if kind not in Entry.Kind.values:
        raise Invalid(f"Unknown kind '{kind}'; use one of {', '.join(Entry.Kind.values)}.", field="kind")
    return kind


def clean_publish_at(publish_at: datetime | None) -> datetime:
    if publish_at is None:
        raise Invalid("A scheduled entry needs publish_at.", field="publish_at")
    if timezone.is_naive(publish_at):
        raise Invalid("publish_at needs a time zone (e.g. 2026-11-25T18:00:00Z).", field="publish_at")
    if publish_at < timezone.now() - SCHEDULE_GRACE:
        raise Invalid("publish_at is in the past.", field="publish_at")
    return publish_at


def authors_for(users, fallback, *, blog=None, keep=()) -> list[Author]:
    """The byline's Authors. With ``blog``, each named person (a user, an
    Author or a username) must be the writer, on the blog's team, or already
    on the entry (``keep``); anyone else is refused (:class:`NotTeamMember`)."""
    people = list(users) if users else [fallback]
    if blog is not None and users:
        _require_team(people, blog=blog, writer=fallback, keep=keep)
    authors = []
    for person in people:
        if isinstance(person, str):
            person = User.objects.get(username=person)  # checked by _require_team
        if isinstance(person, Author):
            authors.append(person)
            continue
        try:
            author = person.author  # cached on the user object after the first look
        except Author.DoesNotExist:
            author, _ = Author.objects.get_or_create(user=person)
        authors.append(author)
    return authors


def set_new_authors(entry: Entry, authors: list[Author]) -> None:
    """Authors of an entry just created: one insert, no read-back."""
    Through = Entry.authors.through
    Through.objects.bulk_create([Through(entry_id=entry.pk, author_id=a.pk) for a in {a.pk: a for a in authors}.values()])
    cache_authors(entry, list({a.pk: a for a in authors}.values()))


def snapshot(entry: Entry, user) -> None:
    EntryRevision.objects.create(
        entry=entry,
        version=entry.version,
        headline=entry.headline,
        body=entry.body,
        kind=entry.kind,
        key_event=entry.key_event,
        status=entry.status,
        fact_check=entry.fact_check,
        edited_by=user if getattr(user, "is_authenticated", False) else None,
    )


def unpin_others(entry: Entry, user) -> None:
    """Unpin whatever is pinned on the blog now, announcing it to readers."""
    for other in Entry.objects.filter(
        blog_id=entry.blog_id, pinned=True, status=Entry.Status.PUBLISHED
    ).exclude(pk=entry.pk):
        other.pinned = False
        other.version += 1
        other.save(update_fields=["pinned", "version", "modified_at"])
        snapshot(other, user)
        entry_event(other, Event.Type.ENTRY_UPDATED)


def go_live(entry: Entry, user, now: datetime) -> None:
    """Publish ``entry`` (saved by the caller) and write its event."""
    if entry.image_id:
        release_if_withheld(entry.image)
    if entry.pinned:
        unpin_others(entry, user)
    entry.status = Entry.Status.PUBLISHED
    entry.published_at = now
    entry.publish_at = None
    entry.awaiting_approval = False


def _require_team(people, *, blog, writer, keep) -> None:
    usernames = [p for p in people if isinstance(p, str)]
    user_ids = {p.user_id if isinstance(p, Author) else p.pk for p in people if not isinstance(p, str)}
    if usernames:
        found = dict(User.objects.filter(username__in=usernames).values_list("username", "pk"))
        for name in usernames:
            if name not in found:
                raise NotTeamMember(f"'{name}' is not on this blog's team.", field="authors")
            user_ids.add(found[name])
    allowed = set(Membership.objects.filter(blog=blog, user_id__in=user_ids).values_list("user_id", flat=True))
    allowed |= {getattr(writer, "pk", None)} | {a.user_id for a in keep}
    outsiders = user_ids - allowed
    if outsiders:
        names = sorted(User.objects.filter(pk__in=outsiders).values_list("username", flat=True))
        raise NotTeamMember(
            f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not on this blog's team; "
            "an editor can add them first.",
            field="authors",
        )
