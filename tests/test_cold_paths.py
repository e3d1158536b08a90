"""Cold reads (a response cache miss) cost a fixed number of queries, the
same for a blog of 60 entries as for one of 600, and a page joined from
entry fragments is the page rendered afresh (issue 15; docs/performance.md)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache as django_cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from posts.delivery import cache
from posts.domain import selectors, services
from posts.domain.models import Blog, Entry
from posts.web import caching

from .factories import AuthorFactory, make_blog, make_entry

pytestmark = pytest.mark.django_db(transaction=True)

SHORT, LONG = 60, 600

READS = {
    "live page": "/live/{slug}/",
    "older page": "/live/{slug}/?before={cursor}",
    "permalink": "/live/{slug}/entries/{entry}/",
    "rss": "/live/{slug}/feed.rss",
    "atom": "/live/{slug}/feed.atom",
    "json feed": "/live/{slug}/feed.json",
    "api blog": "/api/blogs/{slug}",
    "api entries": "/api/blogs/{slug}/entries",
    "api entry": "/api/blogs/{slug}/entries/{entry}",
    "updates": "/api/blogs/{slug}/updates?since={since}",
    "desk": "/desk/blogs/{slug}/",
    "desk older": "/desk/blogs/{slug}/older/",
}

# Queries of each read on a response cache miss. "after a write": every
# entry's fragments are cached (the write touched none of those shown);
# "no fragments": a cold cache, every shown entry read in full with its byline.
AFTER_A_WRITE = {
    # The live page is the first read of the new version: it reads the blog's
    # row, which the reads after it at that version find in the cache
    # (caching.public_blog_of; test below).
    "live page": 2, "older page": 2, "permalink": 1, "rss": 1, "atom": 1, "json feed": 1,
    # The editor's desk: the session and its user, the blog with the
    # viewer's role, its drafts and timeline (one query; the "quiet" flag,
    # docs/questions.md, is the timeline's newest), the viewer's author
    # record, the team, the reader questions waiting, the webhook partners.
    "api blog": 1, "api entries": 1, "api entry": 1, "updates": 1, "desk": 8, "desk older": 5,
}
NO_FRAGMENTS = {
    **AFTER_A_WRITE,
    "live page": 4, "older page": 4, "permalink": 5, "rss": 3, "atom": 3, "json feed": 3,
    "api blog": 3, "api entries": 3, "api entry": 3, "desk": 10, "desk older": 7,
}


def _filler(blog: Blog, author, count: int) -> None:
    """Rows written in bulk (thousands through the services would be slow;
    the reads do not care how rows were written), older than the entries
    the services write."""
    start = timezone.now() - timedelta(days=1)
    rows = Entry.objects.bulk_create(
        Entry(blog=blog, body=f"Filler {i}", body_html=f"<p>Filler {i}</p>", body_text=f"Filler {i}",
              status="published", published_at=start + timedelta(seconds=i), key_event=i % 100 == 0)
        for i in range(count)
    )
    through = Entry.authors.through
    through.objects.bulk_create(through(entry_id=row.pk, author_id=author.pk) for row in rows)


def _blog_of(length: int, *, editor, reporter) -> dict:
    blog = make_blog(editor=editor, title=f"Blog of {length}")
    _filler(blog, reporter.author, length - 3)
    make_entry(blog=blog, user=reporter, body="The summary so far.", kind="summary", pinned=True)
    make_entry(blog=blog, user=reporter, body="Queues at **Ward 7** all day.", headline="Turnout", key_event=True)
    make_entry(blog=blog, user=reporter, body="It was not.", fact_check={
        "claim": "Turnout was the lowest ever.", "claimant": "A candidate", "verdict": "False"})
    blog.refresh_from_db()
    middle = blog.entries.filter(status="published").order_by("-published_at", "-id")[length // 2]
    return {
        "slug": blog.slug, "entry": middle.pk, "cursor": selectors.encode_cursor(middle), "since": blog.last_seq - 2,
    }


def _miss_responses(slug: str) -> None:
    """As a write does: the blog's version moves on, so every response is a
    miss, and the fragments stay."""
    cache.invalidate_blog(slug=slug, seq=cache.current_seq(slug) + 1)


def _queries(client, url: str) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    assert response["X-Read-Cache"] == "miss" if url.startswith(("/live", "/api")) else True
    return len(ctx.captured_queries), response.content


@pytest.fixture
def blogs(editor, reporter):
    return {length: _blog_of(length, editor=editor, reporter=reporter) for length in (SHORT, LONG)}


def test_a_cold_read_costs_the_same_queries_for_60_entries_as_for_600(client, editor, blogs):
    client.force_login(editor)
    counts = {}
    for length, params in blogs.items():
        caching.clear_read_cache()
        cache.current_version(params["slug"])  # known to the cache, as it nearly always is
        no_fragments = {}
        for kind, url in READS.items():
            no_fragments[kind], _ = _queries(client, url.format(**params))
        _miss_responses(params["slug"])
        after_write = {}
        for kind, url in READS.items():
            after_write[kind], _ = _queries(client, url.format(**params))
        counts[length] = (no_fragments, after_write)
    assert counts[SHORT] == counts[LONG] == (NO_FRAGMENTS, AFTER_A_WRITE)


def test_a_page_joined_from_fragments_is_the_page_rendered_afresh(client, blogs):
    params = blogs[LONG]
    for kind in ("live page", "older page", "permalink", "rss", "atom", "json feed", "api blog", "api entries"):
        url = READS[kind].format(**params)
        caching.clear_read_cache()
        _, fresh = _queries(client, url)
        _miss_responses(params["slug"])
        _, joined = _queries(client, url)
        assert joined == fresh, kind


def test_an_edit_is_rendered_again_and_the_other_entries_come_from_their_fragments(client, reporter, blogs):
    slug = blogs[SHORT]["slug"]
    client.get(f"/live/{slug}/")
    entry = Entry.objects.get(blog__slug=slug, headline="Turnout")
    services.entry_edit(entry=entry, user=reporter, version=entry.version, body="Turnout was **record** high.")
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(f"/live/{slug}/").content.decode()
    assert "<strong>record</strong> high" in html and "Ward 7" not in html
    # Only the edited entry was read in full (one row), with its byline.
    in_full = [q["sql"] for q in ctx.captured_queries if '"posts_entry"."body_html"' in q["sql"]]
    assert len(in_full) == 1 and f"IN ({entry.pk})" in in_full[0]


def test_a_deleted_entrys_fragments_are_gone_from_the_cache(client, reporter, blogs):
    params = blogs[SHORT]
    for kind, url in READS.items():
        if kind != "desk":
            client.get(url.format(**params))
    entry = Entry.objects.get(blog__slug=params["slug"], headline="Turnout")
    assert django_cache.get(cache.fragment_key("page", entry.pk)) is not None
    services.entry_delete(entry=entry, user=reporter)
    for kind in cache.FRAGMENT_KINDS:
        assert django_cache.get(cache.fragment_key(kind, entry.pk)) is None, kind
    for kind in ("live page", "rss", "atom", "json feed", "api entries"):
        assert b"Ward 7" not in client.get(READS[kind].format(**params)).content, kind


def _plan(sql: str, params=()) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE posts_entry")  # statistics, as autovacuum keeps them in production
            cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is small enough to scan
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return " ".join(str(row[-1]) for row in cursor.fetchall())


def _issued(read) -> list[str]:
    """The SQL ``read()`` sends, its values in place (to EXPLAIN as sent)."""
    with CaptureQueriesContext(connection) as ctx:
        read()
    return [q["sql"] for q in ctx.captured_queries]


def test_the_pinned_entry_and_key_events_are_read_through_their_partial_indexes(blogs):
    blog = Blog.objects.get(slug=blogs[LONG]["slug"])
    pinned, key_events = selectors.pinned_and_key_events(blog=blog)
    assert pinned.body_text == "The summary so far." and key_events[0].headline == "Turnout"
    assert len(key_events) == blog.entries.filter(status="published", key_event=True).count()
    for entry in [pinned, *key_events]:
        assert not {*selectors.LIGHT_FIELDS, *selectors.KEY_EVENT_FIELDS} & entry.get_deferred_fields()
    [sql] = _issued(lambda: selectors.pinned_and_key_events(blog=blog))
    with transaction.atomic():
        plan = _plan(sql)
    assert "one_pinned_entry_per_blog" in plan and "entry_key_events" in plan, plan
    # The ORM's own reads of them (the embed, the outbox) take the same indexes.
    with transaction.atomic():
        sql, params = blog.entries.filter(status="published", pinned=True).order_by()[:1].query.sql_with_params()
        assert "one_pinned_entry_per_blog" in _plan(sql, params)
        [sql] = _issued(lambda: selectors.key_events(blog=blog))
        assert "entry_key_events" in _plan(sql)
    [sql] = _issued(lambda: selectors.pinned_entry(blog=blog, light=True))
    assert "ORDER BY" not in sql


def test_a_live_blogs_first_page_pinned_entry_and_key_events_are_one_query_on_three_indexes(blogs):
    blog = Blog.objects.get(slug=blogs[LONG]["slug"])
    page, pinned, key_events = selectors.first_page(blog=blog, limit=20)
    reference = selectors.entries_page(blog=blog, limit=20, light=True)
    assert [e.pk for e in page.items] == [e.pk for e in reference.items] and page.next == reference.next
    assert (pinned, key_events) == selectors.pinned_and_key_events(blog=blog)
    [sql] = _issued(lambda: selectors.first_page(blog=blog, limit=20))
    with transaction.atomic():
        plan = _plan(sql)
    assert all(name in plan for name in ("entry_timeline", "one_pinned_entry_per_blog", "entry_key_events")), plan


def test_the_permalink_reads_its_window_in_one_query_along_the_timeline_index(blogs, reporter):
    blog = Blog.objects.get(slug=blogs[LONG]["slug"])
    entry_id = blogs[LONG]["entry"]
    timeline = list(blog.entries.filter(status="published").order_by("-published_at", "-id").values_list("pk", flat=True))
    at = timeline.index(entry_id)
    window = selectors.entry_window(blog=blog, entry_id=entry_id, size=10)
    assert [e.pk for e in [*window.newer, window.entry, *window.older]] == timeline[at - 10:at + 11]
    assert window.has_newer and window.older_cursor == selectors.encode_cursor(window.older[-1])
    assert not set(selectors.LIGHT_FIELDS) & window.entry.get_deferred_fields()
    # The newest entry: nothing newer; the oldest: nothing older.
    newest = selectors.entry_window(blog=blog, entry_id=timeline[0], size=10)
    assert newest.newer == [] and not newest.has_newer and len(newest.older) == 10
    oldest = selectors.entry_window(blog=blog, entry_id=timeline[-1], size=10)
    assert oldest.older == [] and oldest.older_cursor is None and len(oldest.newer) == 10
    # Not published here: none.
    draft = make_entry(blog=blog, user=reporter, body="Not yet.", status="draft")
    other = Blog.objects.get(slug=blogs[SHORT]["slug"]).entries.filter(status="published").first()
    assert selectors.entry_window(blog=blog, entry_id=draft.pk) is None
    assert selectors.entry_window(blog=blog, entry_id=other.pk) is None
    [sql] = _issued(lambda: selectors.entry_window(blog=blog, entry_id=entry_id))
    with transaction.atomic():
        plan = _plan(sql)
    assert plan.count("entry_timeline") == 2, plan
    # The permalink's page reads the same window and the key events in one query.
    both, key_events = selectors.permalink_reads(blog=blog, entry_id=entry_id, size=10)
    assert both == window and [e.pk for e in key_events] == [e.pk for e in selectors.key_events(blog=blog)]
    assert selectors.permalink_reads(blog=blog, entry_id=draft.pk) == (None, key_events)
    [sql] = _issued(lambda: selectors.permalink_reads(blog=blog, entry_id=entry_id))
    with transaction.atomic():
        plan = _plan(sql)
    assert plan.count("entry_timeline") == 2 and "entry_key_events" in plan, plan


def test_a_cached_desk_card_carries_each_viewers_own_actions_and_csrf_token(editor, reporter, contributor):
    from django.test import Client

    blog = make_blog(editor=editor, title="Desk")
    services.team_set_member(blog=blog, user=editor, member=contributor, role="contributor")
    entry = make_entry(blog=blog, user=reporter, body="Counting has begun.")
    card = f'id="desk-entry-{entry.pk}"'
    seen = Client()
    seen.force_login(contributor)
    page = seen.get(f"/desk/blogs/{blog.slug}/").content.decode()
    assert card in page and 'data-action="pin"' not in page  # the card is cached for a contributor
    first = Client()
    first.force_login(AuthorFactory(role="editor", user__username="ed2").user)
    assert 'data-action="pin"' in first.get(f"/desk/blogs/{blog.slug}/").content.decode()  # and for an editor
    # Another editor gets that cached card, with a token of their own in its forms.
    editors = Client(enforce_csrf_checks=True)
    editors.force_login(editor)
    page = editors.get(f"/desk/blogs/{blog.slug}/").content.decode()
    pin_form = page[page.index(card):].split('data-action="pin"')[0]
    token = pin_form.rsplit('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    response = editors.post(f"/desk/blogs/{blog.slug}/entries/{entry.pk}/pin/",
                            {"pinned": "1", "csrfmiddlewaretoken": token})
    assert response.status_code in {200, 302}
    entry.refresh_from_db()
    assert entry.pinned


def test_the_desk_shows_the_newest_entries_and_links_to_the_older_ones_a_page_at_a_time(client, editor, blogs):
    client.force_login(editor)
    slug = blogs[SHORT]["slug"]
    timeline = list(Entry.objects.filter(blog__slug=slug, status="published")
                    .order_by("-published_at", "-id").values_list("pk", flat=True))

    def cards(html: str) -> list[int]:
        return [int(pk) for pk in re.findall(r'<article class="desk-entry[^"]*"\s+id="desk-entry-(\d+)"', html)]

    desk = client.get(f"/desk/blogs/{slug}/").content.decode()
    assert cards(desk) == timeline[:selectors.DESK_TIMELINE]
    assert f'href="/desk/blogs/{slug}/older/">Older entries</a>' in desk
    older = client.get(f"/desk/blogs/{slug}/older/").content.decode()
    assert cards(older) == timeline[selectors.DESK_TIMELINE:selectors.DESK_TIMELINE * 2]
    assert 'data-action="pin"' in older and "Back to the desk" in older
    # The state the desk script polls lists what the page shows, so it adds no card.
    state = client.get(f"/desk/blogs/{slug}/state/").json()
    assert [item["id"] for item in state["entries"]] == timeline[:selectors.DESK_TIMELINE]
    # A page further on, by cursor; a broken cursor starts over.
    entry = Entry.objects.get(pk=timeline[-3])
    page = client.get(f"/desk/blogs/{slug}/older/?before={selectors.encode_cursor(entry)}").content.decode()
    assert cards(page) == timeline[-2:] and "Older entries</a>" not in page
    assert client.get(f"/desk/blogs/{slug}/older/?before=nonsense").status_code == 302


def test_a_desk_with_exactly_a_windows_worth_of_entries_has_no_older_link(client, editor, reporter):
    client.force_login(editor)
    blog = make_blog(editor=editor, title="Exactly fifty")
    _filler(blog, reporter.author, selectors.DESK_TIMELINE)
    assert "Older entries</a>" not in client.get(f"/desk/blogs/{blog.slug}/").content.decode()
    _filler(blog, reporter.author, 1)
    assert "Older entries</a>" in client.get(f"/desk/blogs/{blog.slug}/").content.decode()


def test_a_draft_taken_down_leaves_no_desk_card_in_the_cache(client, editor, reporter):
    client.force_login(editor)
    blog = make_blog(editor=editor, title="Drafts")
    draft = make_entry(blog=blog, user=reporter, body="Unconfirmed: the count is *stopped*.", status="draft")
    assert f'id="desk-entry-{draft.pk}"' in client.get(f"/desk/blogs/{blog.slug}/").content.decode()
    assert django_cache.get(cache.fragment_key("desk", draft.pk)) is not None  # its card is kept
    services.entry_delete(entry=draft, user=reporter)
    assert django_cache.get(cache.fragment_key("desk", draft.pk)) is None
    assert "Unconfirmed" not in client.get(f"/desk/blogs/{blog.slug}/").content.decode()


def test_the_desks_fragments_stand_ins_are_the_same_in_every_process_sharing_the_cache():
    """A card or composer cached by one worker is read by the others: a
    stand-in drawn per process left that worker's in the page (a dead CSRF
    token on every card, one Idempotency-Key for every composer)."""
    import os
    import subprocess
    import sys

    from posts.web import fragments

    code = "import django; django.setup(); from posts.web import fragments as f; print(f._CSRF_PLACEHOLDER, f._IDEMPOTENCY_PLACEHOLDER)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "liveblog.settings", "LOG_LEVEL": "WARNING"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert other.stdout.split() == [fragments._CSRF_PLACEHOLDER, fragments._IDEMPOTENCY_PLACEHOLDER]


def test_the_desks_composer_is_made_once_and_each_read_gets_its_own_keys(editor, reporter):
    from django.test import Client

    blog = make_blog(editor=editor, title="Composer")
    services.team_set_member(blog=blog, user=editor, member=reporter, role="reporter")

    def composer(client) -> str:
        page = client.get(f"/desk/blogs/{blog.slug}/").content.decode()
        return page[page.index('<section class="composer"'):page.index("</section>", page.index('id="composer"'))]

    editors, reporters = Client(enforce_csrf_checks=True), Client()
    editors.force_login(editor)
    reporters.force_login(reporter)
    first, second = composer(editors), composer(editors)
    key = re.compile(r'name="idempotency_key" value="([^"]+)"')
    assert key.search(first)[1] != key.search(second)[1]  # a fresh key each read
    csrf = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert csrf.sub("", key.sub("", first)) == csrf.sub("", key.sub("", second))
    # Each viewer has their own: their name ticked in the byline.
    mine = re.compile(r'<input type="checkbox" name="authors" value="(\d+)"[^>]*checked')
    assert mine.search(first)[1] == str(editor.author.pk)
    assert mine.search(composer(reporters))[1] == str(reporter.author.pk)
    # The editor's own CSRF token is in it: the composer posts.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', second)[1]
    response = editors.post(f"/desk/blogs/{blog.slug}/entries/", {
        "csrfmiddlewaretoken": token, "body": "Polls close at ten.", "action": "publish",
        "idempotency_key": key.search(second)[1], "authors": [editor.author.pk],
    })
    assert response.status_code in {200, 302}
    assert blog.entries.filter(body="Polls close at ten.", status="published").exists()


def test_the_blogs_row_is_read_once_per_version_and_a_change_to_the_blog_shows(client, editor, blogs):
    slug = blogs[SHORT]["slug"]
    for first, then in (("/live/{slug}/feed.rss", "/live/{slug}/"), ("/api/blogs/{slug}", "/live/{slug}/feed.atom")):
        _miss_responses(slug)
        with CaptureQueriesContext(connection) as reads:
            assert client.get(first.format(slug=slug)).status_code == 200
        assert sum("posts_blog" in q["sql"] for q in reads.captured_queries) == 1  # the first read of a version
        with CaptureQueriesContext(connection) as reads:
            assert client.get(then.format(slug=slug)).status_code == 200
        assert not any("posts_blog" in q["sql"] for q in reads.captured_queries), reads.captured_queries
    # A change to the blog is an event: the next version's reads read the row again.
    # (A blog whose version this test did not move by hand.)
    blog = Blog.objects.get(slug=blogs[LONG]["slug"])
    assert b"Blog of 600" in client.get(f"/live/{blog.slug}/").content
    assert b"Blog of 600" in client.get(f"/live/{blog.slug}/feed.rss").content
    services.blog_update(blog=blog, user=editor, title="Count night, renamed")
    assert b"Count night, renamed" in client.get(f"/live/{blog.slug}/").content
    assert b"Count night, renamed" in client.get(f"/live/{blog.slug}/feed.rss").content
