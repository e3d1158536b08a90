"""Readers never cost a query each: every public read is cacheable
(Cache-Control, ETag, Surrogate-Key), served from the cache keyed by the
blog's latest event, and replaced when the fan-out reports a new event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from posts.delivery import cache
from posts.domain import services
from posts.domain.models import Entry
from posts.web import caching

from .factories import make_blog, make_entry

# Real commits, so the fan-out (eager Celery) runs and invalidates as in production.
pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC_READS = [
    "/",
    "/live/{slug}/",
    "/live/{slug}/entries/{entry}/",
    "/live/{slug}/feed.rss",
    "/live/{slug}/feed.atom",
    "/live/{slug}/feed.json",
    "/live/{slug}/embed/",
    "/api/blogs",
    "/api/blogs/{slug}",
    "/api/blogs/{slug}/entries?limit=5",
    "/api/blogs/{slug}/entries/{entry}",
    "/api/blogs/{slug}/updates?since=0",
]


@pytest.fixture
def entry(blog, reporter):
    return make_entry(blog=blog, user=reporter, body="First update", key_event=True)


@pytest.mark.parametrize("template", PUBLIC_READS)
def test_every_public_read_is_cacheable_and_names_its_blog(client, blog, entry, template):
    response = client.get(template.format(slug=blog.slug, entry=entry.pk))
    assert response.status_code == 200
    control = response["Cache-Control"]
    assert control.startswith("public, max-age=")
    assert "stale-while-revalidate=" in control and "stale-if-error=" in control
    assert response["ETag"].startswith('W/"')
    expected_key = "blogs" if template in ("/", "/api/blogs") else f"blog-{blog.slug}"
    assert response["Surrogate-Key"] == expected_key


@pytest.mark.parametrize("template", PUBLIC_READS)
def test_a_cached_read_costs_no_database_query(client, blog, entry, template, django_assert_num_queries):
    url = template.format(slug=blog.slug, entry=entry.pk)
    first = client.get(url)
    with django_assert_num_queries(0):
        again = client.get(url)
    assert again.content == first.content
    with django_assert_num_queries(0):
        assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_a_new_event_replaces_every_cached_read_of_the_blog(client, blog, reporter, entry):
    urls = [t.format(slug=blog.slug, entry=entry.pk) for t in PUBLIC_READS if "{slug}" in t]
    before = {url: client.get(url) for url in urls}
    services.entry_edit(entry=entry, user=reporter, version=entry.version, body="First update, corrected")
    for url in urls:
        after = client.get(url, HTTP_IF_NONE_MATCH=before[url]["ETag"])
        assert after.status_code == 200, url
        assert after["ETag"] != before[url]["ETag"], url
        if url != f"/api/blogs/{blog.slug}":  # the blog itself lists key events by headline only
            assert b"corrected" in after.content, url


def test_publishing_shows_on_the_page_at_once(client, blog, reporter):
    assert b"Polls open" not in client.get(f"/live/{blog.slug}/").content
    fresh = make_entry(blog=blog, user=reporter, body="Polls open")
    page = client.get(f"/live/{blog.slug}/").content.decode()
    assert f'id="entry-{fresh.pk}"' in page and "Polls open" in page
    services.entry_delete(entry=fresh, user=reporter)
    assert b"Polls open" not in client.get(f"/live/{blog.slug}/").content


def test_home_changes_when_a_blog_goes_live(client, editor):
    draft = make_blog(editor=editor, title="Count night", status="draft")
    assert b"Count night" not in client.get("/").content
    services.blog_open(blog=draft, user=editor)
    assert b"Count night" in client.get("/").content


def test_errors_are_not_cached(client, editor):
    draft = make_blog(editor=editor, title="Soon", status="draft")
    response = client.get(f"/live/{draft.slug}/")
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-cache"
    services.blog_open(blog=draft, user=editor)
    assert client.get(f"/live/{draft.slug}/").status_code == 200


def _bulk_entries(blog, author, count):
    """Filler rows for size tests (thousands through the services would be slow;
    the reads under test do not care how rows were written)."""
    start = timezone.now() - timedelta(days=1)
    rows = Entry.objects.bulk_create(
        Entry(blog=blog, body=f"Filler {i}", body_html=f"<p>Filler {i}</p>", body_text=f"Filler {i}", status="published",
              published_at=start + timedelta(seconds=i), key_event=i % 500 == 0)
        for i in range(count)
    )
    through = Entry.authors.through
    through.objects.bulk_create(through(entry_id=row.pk, author_id=author.pk) for row in rows)


def _queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_first_page_of_a_huge_blog_costs_the_same_queries_as_a_small_one(client, editor, reporter):
    author = reporter.author
    small = make_blog(editor=editor, title="Small")
    huge = make_blog(editor=editor, title="Huge")
    _bulk_entries(small, author, 50)
    _bulk_entries(huge, author, 5000)
    for template in ("/live/{}/", "/api/blogs/{}/entries", "/api/blogs/{}", "/live/{}/feed.atom", "/live/{}/embed/"):
        small_cost = _queries_for(client, template.format(small.slug))
        huge_cost = _queries_for(client, template.format(huge.slug))
        assert small_cost == huge_cost <= 10, template
    page = client.get(f"/live/{huge.slug}/").content.decode()
    assert page.count("<article ") == 20


def test_invalidation_ignores_an_older_seq_and_a_reused_slug_starts_afresh(blog):
    caching.clear_read_cache()
    first = caching.current_version(blog.slug)
    cache.invalidate_blog(slug=blog.slug, seq=7)
    assert caching.current_seq(blog.slug) == 7
    cache.invalidate_blog(slug=blog.slug, seq=5)
    assert caching.current_seq(blog.slug) == 7
    held = caching.current_version(blog.slug)
    cache.invalidate_blog(slug=blog.slug, seq=1)  # a new blog under the same slug
    assert caching.current_seq(blog.slug) == 1
    assert caching.current_version(blog.slug) not in {first, held}


def test_a_read_keeps_one_response_in_its_slot_and_serves_it_only_at_its_version(client, blog, reporter, entry):
    url = f"/live/{blog.slug}/"
    assert client.get(url)["X-Read-Cache"] == "miss"
    read = caching.blog_read("live", blog.slug, "newest|")
    assert read.held[0] == read.version and b"First update" in read.held[2]  # read with the version, one round trip
    make_entry(blog=blog, user=reporter, body="Second update")
    moved = caching.blog_read("live", blog.slug, "newest|")
    assert moved.version != read.version and moved.held[0] == read.version  # the slot still holds the old page...
    page = client.get(url)
    assert page["X-Read-Cache"] == "miss" and b"Second update" in page.content  # ...which is never served for the new
    assert caching.blog_read("live", blog.slug, "newest|").held[0] == moved.version  # and the new one took the slot
    assert client.get(url)["X-Read-Cache"] == "hit"


@pytest.mark.parametrize("template", [
    "/live/{slug}/", "/live/{slug}/feed.rss", "/api/blogs/{slug}", "/api/blogs/{slug}/updates?since=0",
    "/api/blogs/{slug}/updates?since={seq}",
])
def test_a_cached_read_is_one_cache_round_trip(client, blog, entry, template, monkeypatch):
    """The blog's version and the read's stored response (for /updates, its
    pace too) come in one MGET (docs/caching.md)."""
    url = template.format(slug=blog.slug, seq=blog.entries.count() + 1)
    first = client.get(url)
    calls = []
    real = cache._cache_call
    monkeypatch.setattr(cache, "_cache_call", lambda method, *a, **k: calls.append(method) or real(method, *a, **k))
    again = client.get(url)
    assert again.content == first.content and again["X-Read-Cache"] == "hit"
    assert calls == ["get_many"], calls
