"""Replay order (docs/questions.md#replay): ``?order=oldest`` on the live page
and ``GET …/entries``: server-rendered, keyset-paginated, the order kept
across pages, a toggle on the page, "Read from the start" on a closed blog,
a bad order a clear 4xx, and cache keys that differ by order."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from posts.domain import selectors, services

from .factories import make_entry


@pytest.fixture
def seven(blog, reporter, settings):
    settings.LIVEBLOG_PAGE_SIZE = 3
    return [make_entry(blog=blog, user=reporter, body=f"Entry number {i}.") for i in range(7)]


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article id="entry-(\d+)"', html)]


def test_the_selector_pages_oldest_first_without_gaps_or_repeats(blog, seven):
    seen, cursor = [], None
    while True:
        page = selectors.entries_page(blog=blog, order="oldest", after=cursor, limit=3)
        seen += [e.pk for e in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [e.pk for e in seven]


def test_the_live_page_reads_oldest_first_and_keeps_the_order_across_pages(client, blog, seven):
    first = client.get(f"/live/{blog.slug}/?order=oldest")
    assert first.status_code == 200
    html = first.content.decode()
    assert _ids(html) == [e.pk for e in seven[:3]]
    assert 'aria-current="true" data-order="oldest"' in html
    assert 'data-live="false"' in html  # a replay does not insert live updates at the top
    later = re.search(r'href="(\?order=oldest&amp;after=[^"]+)"[^>]*>Later updates', html).group(1).replace("&amp;", "&")
    second = client.get(f"/live/{blog.slug}/{later}").content.decode()
    assert _ids(second) == [e.pk for e in seven[3:6]]
    later = re.search(r'href="(\?order=oldest&amp;after=[^"]+)"', second).group(1).replace("&amp;", "&")
    third = client.get(f"/live/{blog.slug}/{later}").content.decode()
    assert _ids(third) == [seven[6].pk] and "Later updates" not in third


def test_the_newest_first_page_offers_the_toggle_and_stays_as_it_was(client, blog, seven):
    html = client.get(f"/live/{blog.slug}/").content.decode()
    assert _ids(html) == [e.pk for e in reversed(seven[-3:])]
    assert f'href="/live/{blog.slug}/?order=oldest"' in html and "Oldest first" in html
    assert 'aria-current="true" data-order="newest"' in html
    assert client.get(f"/live/{blog.slug}/?order=newest").content.decode().count("<article") == 3


def test_a_closed_blog_offers_read_from_the_start(client, blog, editor, seven):
    services.blog_close(blog=blog, user=editor, body="Good night.")
    html = client.get(f"/live/{blog.slug}/").content.decode()
    link = re.search(r'<p class="closed-note"[^>]*>.*?</p>', html, re.S).group(0)
    assert f'href="/live/{blog.slug}/?order=oldest"' in link and "Read from the start" in link
    assert 'data-closed-note hidden' not in html


@pytest.mark.parametrize("query", ["?order=sideways", "?order=OLDEST", "?order=oldest&after=garbage"])
def test_a_bad_order_or_cursor_is_a_clear_uncached_400(client, blog, seven, query):
    response = client.get(f"/live/{blog.slug}/{query}")
    assert response.status_code == 400
    assert response["Cache-Control"] == "no-cache"
    assert "order" in response.content.decode() or "broken" in response.content.decode()


def test_cache_keys_and_etags_differ_by_order(client, blog, seven):
    newest = client.get(f"/live/{blog.slug}/")
    oldest = client.get(f"/live/{blog.slug}/?order=oldest")
    assert newest["ETag"] != oldest["ETag"]
    assert _ids(client.get(f"/live/{blog.slug}/?order=oldest").content.decode()) == [e.pk for e in seven[:3]]
    assert client.get(f"/live/{blog.slug}/?order=oldest").get("X-Read-Cache") == "hit"
    assert _ids(client.get(f"/live/{blog.slug}/").content.decode())[0] == seven[-1].pk
    again = client.get(f"/live/{blog.slug}/?order=oldest", HTTP_IF_NONE_MATCH=oldest["ETag"])
    assert again.status_code == 304


def test_nginx_micro_cache_keys_on_the_query_string():
    from pathlib import Path

    template = (Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf.template").read_text()
    keys = re.findall(r"proxy_cache_key\s+\"([^\"]+)\"", template)
    assert keys and all("$request_uri" in key for key in keys)


def test_the_api_reads_oldest_first_with_after(blog, seven):
    client = Client()
    url = f"/api/blogs/{blog.slug}/entries"
    first = client.get(url, {"order": "oldest", "limit": 4}).json()
    assert [e["id"] for e in first["items"]] == [e.pk for e in seven[:4]]
    rest = client.get(url, {"order": "oldest", "limit": 4, "after": first["next"]}).json()
    assert [e["id"] for e in rest["items"]] == [e.pk for e in seven[4:]] and rest["next"] is None
    newest = client.get(url, {"limit": 4}).json()
    assert [e["id"] for e in newest["items"]] == [e.pk for e in reversed(seven[3:])]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"order": "sideways"}, 422, "order"),
        ({"order": "oldest", "before": "1_1"}, 422, "before"),
        ({"after": "1_1"}, 422, "after"),
        ({"order": "oldest", "after": "nonsense"}, 400, "after"),
    ],
)
def test_the_api_refuses_a_bad_order_or_a_cursor_of_the_other_order(blog, seven, params, status, field):
    response = Client().get(f"/api/blogs/{blog.slug}/entries", params)
    assert response.status_code == status, response.content
    assert response.json()["field"] == field


def _bulk_entries(blog, count: int) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from posts.domain.models import Entry

    start = timezone.now() - timedelta(hours=5)
    Entry.objects.bulk_create([
        Entry(blog=blog, body=f"Bulk {n}", body_html=f"<p>Bulk {n}</p>", body_text=f"Bulk {n}",
              status=Entry.Status.PUBLISHED, published_at=start + timedelta(seconds=n))
        for n in range(count)
    ])


def test_an_oldest_first_page_costs_the_same_queries_on_a_short_or_long_blog_and_none_when_cached(
    client, editor, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .factories import make_blog

    costs = {}
    for size in (10, 2000):
        blog = make_blog(editor=editor, title=f"Blog of {size}")
        _bulk_entries(blog, size)
        with CaptureQueriesContext(connection) as miss:
            assert client.get(f"/live/{blog.slug}/?order=oldest").status_code == 200
        with CaptureQueriesContext(connection) as hit:
            assert client.get(f"/live/{blog.slug}/?order=oldest").status_code == 200
        costs[size] = (len(miss), len(hit))
    print(f"\noldest-first page, queries (miss, hit): 10 entries {costs[10]}, 2,000 entries {costs[2000]}")
    assert costs[10] == costs[2000]
    assert costs[10][1] == 0
