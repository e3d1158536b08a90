"""Reads. Each returns what a page or endpoint needs in a fixed number of
queries, whatever the length of the blog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import F, Max, Prefetch, Q, QuerySet

from .errors import NotFound
from .models import Author, Blog, Entry, Event, Media

MAX_PAGE_SIZE = 100


class InvalidCursor(ValueError):
    """A ``before`` cursor that was not made by :func:`encode_cursor`."""


def encode_cursor(entry: Entry) -> str:
    micros = int(entry.published_at.timestamp() * 1_000_000)
    return f"{micros}_{entry.pk}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        micros_text, id_text = cursor.split("_", 1)
        micros, entry_id = int(micros_text), int(id_text)
        when = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidCursor(f"'{cursor[:40]}' is not a valid cursor") from exc
    return when.replace(microsecond=micros % 1_000_000), entry_id


# Only what a byline shows (Author.name): no password hashes, no role.
_BYLINE_AUTHORS = Author.objects.select_related("user").only(
    "display_name", "url", "user", "user__username", "user__first_name", "user__last_name"
)


def _with_authors(qs: QuerySet[Entry]) -> QuerySet[Entry]:
    """Entries with their byline prefetched into ``Entry.byline`` in one
    query. ``to_attr`` matters: a plain prefetch builds one queryset per
    entry, which was a third of a feed's cache-miss time (bench/PROFILING.md).
    Callers start from ``blog.entries`` so every entry shares the one blog
    object instead of a join building fifty copies of it. The photo and the
    poll come in the same query (joins on a key); a poll's options in one more."""
    return qs.select_related("image", "poll").prefetch_related(
        Prefetch("authors", queryset=_BYLINE_AUTHORS, to_attr="_byline"), "poll__options"
    )


def entry_with_byline(entry: Entry) -> Entry:
    """``entry`` itself when its byline is loaded (a selector or a service put
    it there), else the entry read again with it, so serializing it costs no
    query per author."""
    if "_byline" in entry.__dict__:
        return entry
    return _with_authors(Entry.objects.select_related("blog")).get(pk=entry.pk)


# What a reader page needs of an entry whose fragments are cached: its place
# in the timeline and what the fragments are keyed by (posts/web/fragments.py).
LIGHT_FIELDS = ("id", "blog_id", "version", "modified_at", "published_at", "updated_at")


def entries_in_full(entries: list[Entry]) -> dict[int, Entry]:
    """``entries`` by id with every column and their bylines: those read
    ``light`` are read again, all in one query plus one for the bylines
    (only entries whose fragments are missing need this)."""
    full = {e.pk: e for e in entries if not e.get_deferred_fields() and "_byline" in e.__dict__}
    wanted = [e.pk for e in entries if e.pk not in full]
    if wanted:
        blog = entries[0].blog
        # The editor who sent a draft back is named on its desk card.
        qs = _with_authors(blog.entries.filter(pk__in=wanted).select_related("review_note_by__author"))
        full.update({e.pk: e for e in qs.order_by()})
    return full


def published_entries(blog: Blog, *, light: bool = False) -> QuerySet[Entry]:
    """Newest first, with bylines; ``light``: only :data:`LIGHT_FIELDS`."""
    qs = blog.entries.filter(status=Entry.Status.PUBLISHED).order_by("-published_at", "-id")
    return qs.only(*LIGHT_FIELDS) if light else _with_authors(qs)


def _older_than(qs: QuerySet[Entry], when: datetime, entry_id: int) -> QuerySet[Entry]:
    """Entries before ``(when, entry_id)`` in timeline order. The
    ``published_at <= when`` term bounds the index range (the OR alone is a
    filter over every row from the newest on)."""
    return qs.filter(published_at__lte=when).filter(Q(published_at__lt=when) | Q(id__lt=entry_id))


def _newer_than(qs: QuerySet[Entry], when: datetime, entry_id: int) -> QuerySet[Entry]:
    return qs.filter(published_at__gte=when).filter(Q(published_at__gt=when) | Q(id__gt=entry_id))


@dataclass
class EntriesPage:
    items: list[Entry]
    next: str | None


ORDERS = ("newest", "oldest")
"""Timeline orders: ``newest`` first (the live page), ``oldest`` first (replay)."""


def entries_page(
    *, blog: Blog, before: str | None = None, after: str | None = None, limit: int = 20, order: str = "newest",
    light: bool = False,
) -> EntriesPage:
    """Published entries, keyset-paginated (O(limit) per page): newest first
    continuing ``before`` a cursor, or oldest first (replay) continuing
    ``after`` one. ``next`` is the cursor of the following page. ``light``
    reads only what fragments need (posts/web/fragments.py)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    qs = published_entries(blog, light=light)
    if order == "oldest":
        qs = qs.order_by("published_at", "id")
        if after:
            when, entry_id = decode_cursor(after)
            qs = qs.filter(Q(published_at__gt=when) | Q(published_at=when, id__gt=entry_id))
    elif before:
        qs = _older_than(qs, *decode_cursor(before))
    rows = list(qs[: limit + 1])
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
    return EntriesPage(items=items, next=next_cursor)


def published_entry(*, blog: Blog, entry_id: int, light: bool = False) -> Entry | None:
    qs = published_entries(blog, light=light).filter(pk=entry_id).order_by()
    return next(iter(qs[:1]), None)


def entry_is_deleted(*, blog: Blog, entry_id: int) -> bool:
    """True for an entry taken down (its permalink answers 410 Gone)."""
    return blog.entries.filter(pk=entry_id, status=Entry.Status.DELETED).exists()


def any_entry(*, blog: Blog, entry_id: int) -> Entry:
    """The blog's entry whatever its status, deleted included (legal erase,
    history), or NotFound."""
    entry = Entry.objects.select_related("blog").filter(blog=blog, pk=entry_id).first()
    if entry is None:
        raise NotFound(f"No entry {entry_id} on this blog.")
    return entry


def pinned_entry(*, blog: Blog, light: bool = False) -> Entry | None:
    """The blog's one pinned entry. No ``ORDER BY``: at most one row can
    match (one_pinned_entry_per_blog), and an order lets SQLite walk the
    timeline index instead of that partial unique index (3 ms at 5,000
    entries, bench/PROFILING.md)."""
    qs = published_entries(blog, light=light).filter(pinned=True).order_by()
    return next(iter(qs[:1]), None)


KEY_EVENT_FIELDS = ("id", "blog_id", "headline", "body_text", "published_at")
KEY_EVENTS_SHOWN = 50  # the key-events list of a page and of the API's blog


def key_events(*, blog: Blog, limit: int = KEY_EVENTS_SHOWN) -> list[Entry]:
    """Newest first, through the entry_key_events partial index; only what
    the list shows (``Entry.summary_text`` and the link). Hand-written SQL
    (below): the ORM's compiling was 60% of it, and a permalink reads it."""
    return _raw_entries(blog, _KEY_EVENTS_SQL, [blog.pk, Entry.Status.PUBLISHED.value, limit])


# Hand-written SQL for the cold reads' hottest queries: Django compiling the
# ORM's version of each took longer than the database answering it (1-2 ms
# against 0.2 ms, bench/PROFILING.md). Plain SQL that SQLite and PostgreSQL
# both read (row values, UNION ALL of ordered subqueries); the plans use the
# same indexes as the ORM's (tests/test_cold_paths.py checks them).
# Columns: LIGHT_FIELDS and KEY_EVENT_FIELDS (tests/test_cold_paths.py checks;
# any other column a page touched would cost a query, which its pinned
# query count would catch).
_KEY_EVENTS_SQL = (
    "SELECT id, blog_id, version, modified_at, published_at, updated_at, headline, body_text, 'key event' AS part"
    " FROM posts_entry WHERE blog_id = %s AND status = %s AND key_event"
    " ORDER BY published_at DESC, id DESC LIMIT %s"
)
_EXTRAS_SQL = (
    "SELECT id, blog_id, version, modified_at, published_at, updated_at, headline, body_text, 'pinned' AS part"  # noqa: S608 - constants
    " FROM posts_entry WHERE blog_id = %s AND status = %s AND pinned"
    f" UNION ALL SELECT * FROM ({_KEY_EVENTS_SQL}) AS key_events"
)


def pinned_and_key_events(*, blog: Blog, limit: int = KEY_EVENTS_SHOWN) -> tuple[Entry | None, list[Entry]]:
    """:func:`pinned_entry` (``light``) and :func:`key_events` in one query,
    each part through its partial index (one_pinned_entry_per_blog,
    entry_key_events): what the first page of a live blog and the API's blog
    show beside the timeline."""
    published = Entry.Status.PUBLISHED.value
    pinned, events = None, []
    for entry in _raw_entries(blog, _EXTRAS_SQL, [blog.pk, published, blog.pk, published, limit]):
        if entry.part == "pinned":
            pinned = entry
        else:
            events.append(entry)
    return pinned, events


_FIRST_PAGE_SQL = (
    "SELECT * FROM ("  # noqa: S608 - two constants
    "SELECT id, blog_id, version, modified_at, published_at, updated_at, headline, body_text, 'page' AS part"
    " FROM posts_entry WHERE blog_id = %s AND status = %s"
    " ORDER BY published_at DESC, id DESC LIMIT %s) AS page"
    " UNION ALL " + _EXTRAS_SQL
)


def first_page(*, blog: Blog, limit: int = 20) -> tuple[EntriesPage, Entry | None, list[Entry]]:
    """A live blog's first page (:func:`entries_page` newest first,
    ``light``), its pinned entry and its key events (as
    :func:`pinned_and_key_events`), in one query: three ranges of three
    indexes (entry_timeline and the two partial ones)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    published = Entry.Status.PUBLISHED.value
    parts: dict[str, list[Entry]] = {"page": [], "pinned": [], "key event": []}
    rows = _raw_entries(blog, _FIRST_PAGE_SQL, [blog.pk, published, limit + 1, blog.pk, published, blog.pk, published, KEY_EVENTS_SHOWN])
    for entry in rows:
        parts[entry.part].append(entry)
    items = parts["page"][:limit]
    page = EntriesPage(items=items, next=encode_cursor(items[-1]) if len(parts["page"]) > limit else None)
    return page, next(iter(parts["pinned"]), None), parts["key event"]


def _raw_entries(blog: Blog, sql: str, params: list) -> list[Entry]:
    """Rows of ``sql`` as (deferred) entries of ``blog``, sharing the one
    blog object as ``blog.entries`` would."""
    entries = list(Entry.objects.raw(sql, params))
    for entry in entries:
        entry.blog = blog
    return entries


def blog_by_slug(slug: str) -> Blog | None:
    return Blog.objects.filter(slug=slug).first()


# slug is unique; the membership is one row of one_membership_per_user.
_DESK_BLOG_SQL = (
    "SELECT posts_blog.*, (SELECT role FROM posts_membership WHERE posts_membership.blog_id = posts_blog.id"
    " AND posts_membership.user_id = %s LIMIT 1) AS team_role"
    " FROM posts_blog WHERE slug = %s"
)


def desk_blog(*, slug: str, user) -> Blog | None:
    """A blog for the desk, any status, with ``user``'s role on its team
    (None when not on it) for permissions.role_for, in one hand-written
    query: every desk read starts here, and the ORM's two took 1.2 ms on
    PostgreSQL, this 0.33 ms (bench/PROFILING.md, "Third pass: the desk on
    PostgreSQL")."""
    blog = next(iter(Blog.objects.raw(_DESK_BLOG_SQL, [user.pk, slug])), None)
    if blog is not None:
        blog.team_role_of = (user.pk, blog.__dict__.pop("team_role"))  # for permissions.role_for
    return blog


_PUBLIC_BLOG_SQL = "SELECT * FROM posts_blog WHERE slug = %s AND status <> %s"  # slug is unique


def public_blog(slug: str) -> Blog | None:
    """A blog readers may see (live or closed; drafts are the newsroom's).
    Hand-written SQL, as the cold reads' others below: every cold read of a
    blog starts here, and the ORM's ``.first()`` took 0.7 ms on PostgreSQL
    against 0.33 ms for the same row (bench/PROFILING.md, "Third pass")."""
    return next(iter(Blog.objects.raw(_PUBLIC_BLOG_SQL, [slug, Blog.Status.DRAFT.value])), None)


def upcoming_blog(slug: str) -> Blog | None:
    """A draft blog scheduled to open (public as a countdown only)."""
    return Blog.objects.filter(slug=slug, status=Blog.Status.DRAFT, opens_at__isnull=False).first()


def public_or_upcoming_blog(slug: str) -> Blog | None:
    """:func:`public_blog` or :func:`upcoming_blog`, in one query (a draft
    returned is scheduled to open)."""
    return Blog.objects.filter(
        Q(slug=slug) & (~Q(status=Blog.Status.DRAFT) | Q(opens_at__isnull=False))
    ).first()


def public_blogs(*, limit: int = 50) -> list[Blog]:
    """Live blogs first, then recently closed ones."""
    live = list(Blog.objects.filter(status=Blog.Status.LIVE).order_by("-coverage_start", "-id")[:limit])
    closed = list(
        Blog.objects.filter(status=Blog.Status.CLOSED).order_by("-coverage_end", "-id")[: max(0, limit - len(live))]
    )
    return live + closed


def events_since(*, blog: Blog, since: int, limit: int = 500) -> list[Event]:
    return list(Event.objects.filter(blog=blog, seq__gt=since).order_by("seq")[:limit])


_UPDATES_SQL = (
    "SELECT posts_event.id, posts_event.blog_id, posts_event.seq, posts_event.type, posts_event.payload,"
    " posts_blog.last_seq AS blog_last_seq"
    " FROM posts_event INNER JOIN posts_blog ON posts_blog.id = posts_event.blog_id"
    " WHERE posts_blog.slug = %s AND posts_blog.status <> %s AND posts_event.seq > %s"
    " ORDER BY posts_event.seq LIMIT %s"
)


def public_events_since(*, slug: str, since: int, limit: int = 500) -> list[Event]:
    """The events of a blog readers may see after ``since``, each with its
    blog's ``last_seq`` as ``blog_last_seq`` (all ``/updates`` needs of
    the blog), in one query along one_event_per_seq; empty also when there
    is no such blog. Hand-written SQL: compiling the ORM's join was half of
    a cold ``/updates`` (bench/PROFILING.md)."""
    return list(Event.objects.raw(_UPDATES_SQL, [slug, Blog.Status.DRAFT.value, since, limit]))


DESK_TIMELINE = 50
"""Published entries on a blog's desk: the newest, where a reporter on
deadline fixes, pins and deletes; older ones are a link away (docs/desk.md)."""

# What a published entry's desk card needs when its card is cached
# (posts/web/fragments.py): its place and buttons (posts/web/desk/actions.py)
# and the card's fingerprint.
DESK_LIGHT_FIELDS = (*LIGHT_FIELDS, "status", "kind", "pinned", "awaiting_approval", "created_by_id")

_UNPUBLISHED = (Entry.Status.DRAFT, Entry.Status.SCHEDULED)


def desk_entries(*, blog: Blog, timeline: int = DESK_TIMELINE, light: bool = False) -> list[Entry]:
    """The desk's entries: drafts and scheduled ones first (up to 200), then
    the newest ``timeline`` published ones; ``light``: only
    :data:`DESK_LIGHT_FIELDS`, for cards made from fragments."""
    return desk_entries_page(blog=blog, timeline=timeline, light=light)[0]


def desk_entries_page(*, blog: Blog, timeline: int = DESK_TIMELINE, light: bool = False) -> tuple[list[Entry], bool]:
    """:func:`desk_entries` and whether older published entries exist (the
    desk's "Older entries" link), from the same queries."""
    if light:
        return _desk_entries_light(blog=blog, timeline=timeline)
    unpublished = blog.entries.filter(status__in=_UNPUBLISHED).order_by(F("published_at").desc(nulls_first=True), "-id")
    unpublished = (
        unpublished.only(*DESK_LIGHT_FIELDS) if light
        else _with_authors(unpublished.select_related("review_note_by__author"))
    )
    page = desk_timeline(blog=blog, limit=timeline, light=light)
    return list(unpublished[:200]) + page.items, page.next is not None


# Each half a range of entry_timeline; UNION ALL gives the halves in turn,
# each in its own order (as _WINDOW_SQL's). The columns are DESK_LIGHT_FIELDS.
_DESK_ENTRIES_SQL = (
    "SELECT * FROM (SELECT id, blog_id, version, modified_at, published_at, updated_at, status, kind, pinned,"
    " awaiting_approval, created_by_id FROM posts_entry WHERE blog_id = %s AND status IN (%s, %s)"
    " ORDER BY published_at DESC NULLS FIRST, id DESC LIMIT %s) AS unpublished"
    " UNION ALL SELECT * FROM (SELECT id, blog_id, version, modified_at, published_at, updated_at, status, kind,"
    " pinned, awaiting_approval, created_by_id FROM posts_entry WHERE blog_id = %s AND status = %s"
    " ORDER BY published_at DESC, id DESC LIMIT %s) AS published"
)


def _desk_entries_light(*, blog: Blog, timeline: int) -> tuple[list[Entry], bool]:
    """:func:`desk_entries_page` read light in one query. Hand-written SQL:
    the ORM's two querysets took 3.1 ms on PostgreSQL, this 1.7 ms
    (bench/PROFILING.md, "Third pass: the desk on PostgreSQL")."""
    published = Entry.Status.PUBLISHED.value
    rows = _raw_entries(blog, _DESK_ENTRIES_SQL, [
        blog.pk, *(status.value for status in _UNPUBLISHED), 200, blog.pk, published, timeline + 1,
    ])
    unpublished = [e for e in rows if e.status != published]
    page = [e for e in rows if e.status == published]
    return unpublished + page[:timeline], len(page) > timeline


def desk_timeline(
    *, blog: Blog, before: str | None = None, skip: int = 0, limit: int = DESK_TIMELINE, light: bool = False
) -> EntriesPage:
    """Published entries for desk cards, newest first, ``before`` a cursor or
    after the newest ``skip`` (the desk's own first page)."""
    qs = blog.entries.filter(status=Entry.Status.PUBLISHED).order_by("-published_at", "-id")
    qs = qs.only(*DESK_LIGHT_FIELDS) if light else _with_authors(qs)
    if before:
        qs = _older_than(qs, *decode_cursor(before))
    rows = list(qs[skip: skip + limit + 1])
    items = rows[:limit]
    return EntriesPage(items=items, next=encode_cursor(items[-1]) if len(rows) > limit else None)


# --- Desk ------------------------------------------------------------------


def desk_blogs(*, user) -> tuple[list[Blog], list[Blog]]:
    """The blogs ``user`` is on (team), and the newsroom's other blogs.

    Each list is live first, then drafts, then closed, newest first within
    each. Superusers and newsroom-role holders can write on any blog, so
    they get the others too (capped); readers without a role get none.
    """
    from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When

    rank = Case(
        When(status=Blog.Status.LIVE, then=Value(0)),
        When(status=Blog.Status.DRAFT, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    from django.db.models import Count

    from .models import Question

    waiting = Count(
        "entries", filter=Q(entries__status=Entry.Status.DRAFT, entries__awaiting_approval=True), distinct=True
    )
    # Subqueries, not more joins: a join of entries × questions would grow
    # with the product of the two on a long blog.
    asked = Subquery(
        Question.objects.filter(blog=OuterRef("pk"), status=Question.Status.PENDING)
        .values("blog").annotate(n=Count("pk")).values("n"),
        output_field=IntegerField(),
    )
    last_entry = Subquery(
        Entry.objects.filter(blog=OuterRef("pk"), status=Entry.Status.PUBLISHED)
        .order_by("-published_at").values("published_at")[:1]
    )
    ordered = Blog.objects.annotate(
        rank=rank, waiting=waiting, questions_waiting=asked, last_entry_at=last_entry,
    ).order_by("rank", "-created_at", "-id")
    mine = list(ordered.filter(memberships__user=user))
    has_role = user.is_superuser or Author.objects.filter(user=user).exists()
    others = list(ordered.exclude(pk__in=[b.pk for b in mine])[:100]) if has_role else []
    for blog in [*mine, *others]:
        blog.quiet_since = _quiet_since(blog, blog.last_entry_at)
    return mine, others


def _quiet_since(blog: Blog, last_entry_at: datetime | None) -> datetime | None:
    from django.conf import settings
    from django.utils import timezone

    minutes = settings.LIVEBLOG_QUIET_MINUTES
    if blog.status != Blog.Status.LIVE or minutes <= 0:
        return None
    since = last_entry_at or blog.coverage_start
    if since is None or timezone.now() - since < timedelta(minutes=minutes):
        return None
    return since


def quiet_since(*, blog: Blog, timeline: list[Entry] | None = None) -> datetime | None:
    """When a live blog last had a new entry (or opened), if that is longer
    ago than ``LIVEBLOG_QUIET_MINUTES``: the desk flags it. Else None.
    ``timeline``: the blog's newest published entries, newest first, when
    the caller has read them (the desk has): its first is the last entry, so
    no query (the MAX was the desk's slowest, 2 ms at 5,000 entries on
    PostgreSQL, bench/PROFILING.md)."""
    if timeline is not None:
        last = timeline[0].published_at if timeline else None
    else:
        last = blog.entries.filter(status=Entry.Status.PUBLISHED).aggregate(at=Max("published_at"))["at"]
    return _quiet_since(blog, last)


# The desk's small reads, hand-written: each was 0.7-0.9 ms of the desk on
# PostgreSQL through the ORM, most of it compiling (bench/PROFILING.md,
# "Third pass: the desk on PostgreSQL").
_PENDING_QUESTIONS_SQL = (
    "SELECT * FROM posts_question WHERE blog_id = %s AND status = %s ORDER BY created_at, id LIMIT %s"
)


def pending_questions(*, blog: Blog, limit: int = 200) -> list:
    """Readers' questions waiting for the desk, oldest first (desk only:
    never on a public surface)."""
    from .models import Question

    return list(Question.objects.raw(_PENDING_QUESTIONS_SQL, [blog.pk, Question.Status.PENDING.value, limit]))


def desk_question(*, blog: Blog, question_id: int):
    """A question of this blog, any status, or :class:`NotFound`."""
    from .models import Question

    question = Question.objects.select_related("blog").filter(blog=blog, pk=question_id).first()
    if question is None:
        raise NotFound("This question no longer exists (it may have been deleted after it was handled).")
    return question


PARTNERS_SHOWN = 10
"""Partners named on an editor's desk: those that need a look first
(paused, failing, switched off), then healthy ones; the rest are a count."""

# Subscribed to this blog, or to every blog (no blogs of its own). Each row
# carries the totals (window functions run before LIMIT); the columns are
# what the panel shows, not the signing secret.
_WEBHOOK_PARTNERS_SQL = (
    "SELECT id, name, url, active, paused_at, pause_reason, consecutive_failures, last_success_at,"
    " COUNT(*) OVER () AS total,"
    " SUM(CASE WHEN active AND paused_at IS NULL AND consecutive_failures = 0 THEN 1 ELSE 0 END) OVER () AS healthy"
    " FROM posts_webhookpartner WHERE EXISTS (SELECT 1 FROM posts_webhookpartner_blogs AS sub"
    " WHERE sub.webhookpartner_id = posts_webhookpartner.id AND sub.blog_id = %s)"
    " OR NOT EXISTS (SELECT 1 FROM posts_webhookpartner_blogs AS sub"
    " WHERE sub.webhookpartner_id = posts_webhookpartner.id)"
    " ORDER BY CASE WHEN NOT active THEN 2 WHEN paused_at IS NOT NULL THEN 0 WHEN consecutive_failures > 0 THEN 1"
    " ELSE 3 END, name, id LIMIT %s"
)


@dataclass
class PartnerPanel:
    """The desk's webhook panel: how many partners receive the blog's
    events, how many are healthy, and the first :data:`PARTNERS_SHOWN`."""

    total: int
    healthy: int
    shown: list

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def blog_webhook_partners(*, blog: Blog, limit: int = PARTNERS_SHOWN) -> PartnerPanel:
    """Partners that receive this blog's events (subscribed to it, or to
    all), the ones that need a look first, in one query whatever their
    number (a newsroom with 1,000 partners listed them all on every desk
    read: 4 ms of it; bench/PROFILING.md)."""
    from .models import WebhookPartner

    shown = list(WebhookPartner.objects.raw(_WEBHOOK_PARTNERS_SQL, [blog.pk, limit]))
    if not shown:
        return PartnerPanel(total=0, healthy=0, shown=[])
    return PartnerPanel(total=shown[0].total, healthy=int(shown[0].healthy or 0), shown=shown)


# --- Read side (live page, permalink, feeds) ---------------------------------


def blog_last_event_at(*, blog: Blog) -> datetime | None:
    """When the blog last changed for readers (its latest event): the
    ``Last-Modified`` of its pages and feeds and JSON-LD ``dateModified``."""
    return blog.last_event_at or blog.modified_at


@dataclass
class EntryWindow:
    """The page around one entry: newer ones, the entry, older ones."""

    newer: list[Entry]
    entry: Entry
    older: list[Entry]
    has_newer: bool
    older_cursor: str | None


# The entry's own time, read by its key; each half is a range of
# entry_timeline from there (row values bound the range on both columns).
_WINDOW_SQL = (
    "SELECT * FROM (SELECT id, blog_id, version, modified_at, published_at, updated_at, headline, body_text,"
    " 'newer' AS part FROM posts_entry"
    " WHERE blog_id = %s AND status = %s"
    " AND (published_at, id) >= ((SELECT published_at FROM posts_entry WHERE id = %s AND blog_id = %s), %s)"
    " ORDER BY published_at, id LIMIT %s) AS newer"
    " UNION ALL SELECT * FROM (SELECT id, blog_id, version, modified_at, published_at, updated_at, headline,"
    " body_text, 'older' AS part FROM posts_entry"
    " WHERE blog_id = %s AND status = %s"
    " AND (published_at, id) < ((SELECT published_at FROM posts_entry WHERE id = %s AND blog_id = %s), %s)"
    " ORDER BY published_at DESC, id DESC LIMIT %s) AS older"
)
_WINDOW_AND_KEY_EVENTS_SQL = _WINDOW_SQL + f" UNION ALL SELECT * FROM ({_KEY_EVENTS_SQL}) AS key_events"  # noqa: S608


def entry_window(*, blog: Blog, entry_id: int, size: int = 10) -> EntryWindow | None:
    """The page around one published entry, read ``light`` (LIGHT_FIELDS) in
    one query: the entry and up to ``size`` newer ones, up to ``size`` older
    ones, each half a range of entry_timeline. None when the entry is not
    published on this blog (taken down, a draft, another blog's)."""
    return _window(_raw_entries(blog, _WINDOW_SQL, _window_params(blog, entry_id, size)), entry_id, size)


def permalink_reads(*, blog: Blog, entry_id: int, size: int = 10) -> tuple[EntryWindow | None, list[Entry]]:
    """:func:`entry_window` and the blog's :func:`key_events`, in one query
    (a permalink's page: one round trip less, bench/PROFILING.md)."""
    rows = _raw_entries(blog, _WINDOW_AND_KEY_EVENTS_SQL, [
        *_window_params(blog, entry_id, size), blog.pk, Entry.Status.PUBLISHED.value, KEY_EVENTS_SHOWN,
    ])
    window = [e for e in rows if e.part != "key event"]
    return _window(window, entry_id, size), [e for e in rows if e.part == "key event"]


def _window_params(blog: Blog, entry_id: int, size: int) -> list:
    published = Entry.Status.PUBLISHED.value
    return [
        blog.pk, published, entry_id, blog.pk, entry_id, size + 2,
        blog.pk, published, entry_id, blog.pk, entry_id, size + 1,
    ]


def _window(rows: list[Entry], entry_id: int, size: int) -> EntryWindow | None:
    if not rows or rows[0].pk != entry_id:
        return None
    newer = [e for e in rows if e.part == "newer" and e.pk != entry_id]
    older = [e for e in rows if e.part == "older"]
    has_newer = len(newer) > size
    newer = list(reversed(newer[:size]))
    return EntryWindow(
        newer=newer, entry=rows[0], older=older[:size], has_newer=has_newer,
        older_cursor=encode_cursor(older[size - 1]) if len(older) > size else None,
    )


def feed_entries(*, blog: Blog, limit: int = 50, light: bool = False) -> list[Entry]:
    """The latest published entries for the feeds, newest first."""
    return list(published_entries(blog, light=light)[:limit])


def desk_entry(*, blog: Blog, entry_id: int) -> Entry | None:
    """One entry of any status, with its byline, for a desk card."""
    return _with_authors(blog.entries.filter(pk=entry_id).select_related("review_note_by__author")).first()


def get_entry(*, blog: Blog, entry_id: int) -> Entry:
    """The blog's entry (any status but deleted), or :class:`NotFound`."""
    entry = Entry.objects.select_related("blog").filter(blog=blog, pk=entry_id).first()
    if entry is None or entry.status == Entry.Status.DELETED:
        raise NotFound(f"No entry {entry_id} on this blog.")
    return entry


# --- Desk: people and history ---------------------------------------------------


def author_of(user) -> Author | None:
    """The user's newsroom record (name on bylines), or None. Read as
    ``user.author``, which Django keeps on the user object (one request's),
    so the composer, its byline choices, the header's name and the role
    check share one query (they were three, bench/PROFILING.md)."""
    try:
        return user.author
    except Author.DoesNotExist:
        return None


def byline_people(*, blog: Blog, user, extra=(), team: list | None = None) -> list[Author]:
    """Who can be on a byline: the writer, the blog's team, and anyone
    already on the entry; the writer first, then by name. Kept to the team
    on purpose: a newsroom can hold hundreds of people, a blog's team a
    handful of checkboxes. ``team``: the blog's :func:`blog_team`, when the
    caller has read it (the editor's desk), saves a query."""
    me = author_of(user)
    people = {me.pk: me} if me is not None else {}
    if team is None:
        authors = list(Author.objects.filter(user__memberships__blog=blog).select_related("user"))
    else:
        authors = [a for a in (author_of(m.user) for m in team) if a is not None]
    for person in [*authors, *extra]:
        people.setdefault(person.pk, person)
    my_pk = me.pk if me is not None else None
    return sorted(people.values(), key=lambda a: (a.pk != my_pk, a.name.lower()))


# Django's own user table (AUTH_USER_MODEL is not swapped).
_BLOG_TEAM_SQL = (
    "SELECT posts_membership.id, posts_membership.role, auth_user.id, auth_user.username,"
    " auth_user.first_name, auth_user.last_name, auth_user.is_active, posts_author.id,"
    " posts_author.display_name, posts_author.url, posts_author.role"
    " FROM posts_membership INNER JOIN auth_user ON auth_user.id = posts_membership.user_id"
    " LEFT OUTER JOIN posts_author ON posts_author.user_id = auth_user.id"
    " WHERE posts_membership.blog_id = %s ORDER BY auth_user.username, posts_membership.id"
)


def blog_team(*, blog: Blog) -> list:
    """The blog's team memberships, by username, each with its ``user``
    (what a team list and a byline show of them: names, no password hash)
    and the user's ``author`` (or None). Hand-written SQL: the ORM's
    three-table join took 1.1 ms on PostgreSQL, this 0.4 ms
    (bench/PROFILING.md, "Third pass: the desk on PostgreSQL")."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from .models import Membership

    user_model, db = get_user_model(), connection.alias
    user_field, author_user = Membership._meta.get_field("user"), Author._meta.get_field("user")
    with connection.cursor() as cursor:
        cursor.execute(_BLOG_TEAM_SQL, [blog.pk])
        rows = cursor.fetchall()
    team = []
    for membership_id, role, user_id, username, first, last, active, author_id, display, url, author_role in rows:
        user = user_model.from_db(
            db, ["id", "username", "first_name", "last_name", "is_active"], [user_id, username, first, last, active]
        )
        author = None
        if author_id is not None:
            author = Author.from_db(
                db, ["id", "user_id", "display_name", "url", "role"], [author_id, user_id, display, url, author_role]
            )
            author_user.set_cached_value(author, user)
        author_user.remote_field.set_cached_value(user, author)  # user.author, None when none
        membership = Membership.from_db(db, ["id", "blog_id", "user_id", "role"], [membership_id, blog.pk, user_id, role])
        user_field.set_cached_value(membership, user)
        membership.blog = blog
        team.append(membership)
    return team


def entry_revisions(*, entry: Entry) -> list:
    """Every saved version of an entry, newest first."""
    return list(entry.revisions.select_related("edited_by", "edited_by__author").order_by("-version"))


def find_user(*, username: str | None = None, user_id: int | None = None, active_only: bool = True):
    """A user by username or id (active ones only, unless told), or None."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.all()
    if active_only:
        users = users.filter(is_active=True)
    if username is not None:
        return users.filter(username=username).first()
    return users.filter(pk=user_id).first()


def desk_entry_or_404(*, blog: Blog, entry_id: int) -> Entry:
    """A live (not deleted) entry for the desk, or :class:`NotFound` in words
    a reporter understands."""
    entry = Entry.objects.select_related("blog").filter(blog=blog, pk=entry_id).first()
    if entry is None or entry.status == Entry.Status.DELETED:
        raise NotFound("This entry no longer exists (it may have been deleted by a colleague).")
    return entry


def awaiting_approval_count(*, blog: Blog) -> int:
    return blog.entries.filter(status=Entry.Status.DRAFT, awaiting_approval=True).count()


# --- Photos ------------------------------------------------------------------


def writer_media(*, media_id: int, user) -> Media:
    """A photo for someone who may write where it belongs (the API's GET,
    the desk's preview), or :class:`NotFound`."""
    from .permissions import can_write

    media = Media.objects.select_related("blog").filter(pk=media_id).first()
    if media is None or not can_write(user, media.blog):
        raise NotFound(f"No photo {media_id}.")
    return media


# --- Polls -------------------------------------------------------------------


def public_poll(*, slug: str, poll_id: int):
    """A poll readers can see (in a published entry of a public blog), with
    its options, or None."""
    from .models import Poll

    return (
        Poll.objects.select_related("entry__blog")
        .prefetch_related("options")
        .filter(pk=poll_id, entry__blog__slug=slug, entry__status=Entry.Status.PUBLISHED)
        .exclude(entry__blog__status=Blog.Status.DRAFT)
        .first()
    )


def poll_tallies(poll) -> dict[int, int]:
    """Votes per option id as counted now (posts/domain/polls.py)."""
    from .polls import running_totals

    return running_totals(poll)


def blogs_showing_reader_count() -> list[str]:
    """Slugs of live blogs whose editors show "N reading now"."""
    return list(
        Blog.objects.filter(show_reader_count=True, status=Blog.Status.LIVE).values_list("slug", flat=True)
    )
