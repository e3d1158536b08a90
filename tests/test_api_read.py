"""The public read API: blogs, entries with cursor pagination, one entry,
and updates since a seq (the polling fallback)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from posts.domain import services
from posts.domain.models import Event

from .factories import make_blog, make_entry


@pytest.fixture
def entries(blog, reporter):
    return [make_entry(blog=blog, user=reporter, body=f"Update {i}", headline=f"H{i}") for i in range(7)]


def test_blog_list_shows_live_then_closed_and_never_drafts(client, editor):
    live = make_blog(editor=editor, title="Live one")
    closed = make_blog(editor=editor, title="Closed one")
    services.blog_close(blog=closed, user=editor, body="Bye")
    make_blog(editor=editor, title="Draft one", status="draft")
    data = client.get("/api/blogs").json()
    assert [b["slug"] for b in data["items"]] == [live.slug, closed.slug]
    assert {"slug", "title", "standfirst_html", "status", "url", "seq"} <= set(data["items"][0])


def test_blog_detail_has_pinned_entry_key_events_and_latest_seq(client, blog, reporter, entries):
    services.entry_pin(entry=entries[2], user=reporter)
    services.entry_set_key_event(entry=entries[4], user=reporter, key_event=True)
    blog.refresh_from_db()
    data = client.get(f"/api/blogs/{blog.slug}").json()
    assert data["seq"] == blog.last_seq
    assert data["pinned"]["id"] == entries[2].pk
    assert [k["id"] for k in data["key_events"]] == [entries[4].pk]
    assert data["key_events"][0]["url"].endswith(f"/live/{blog.slug}/entries/{entries[4].pk}/")


def test_unknown_and_draft_blogs_are_json_404s(client, editor):
    draft = make_blog(editor=editor, title="Embargo", status="draft")
    for url in ("/api/blogs/nope", f"/api/blogs/{draft.slug}", f"/api/blogs/{draft.slug}/entries",
                f"/api/blogs/{draft.slug}/updates?since=0"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "detail" in response.json()


def test_entries_are_newest_first_in_the_contract_shape(client, blog, entries):
    data = client.get(f"/api/blogs/{blog.slug}/entries?limit=3").json()
    assert [e["id"] for e in data["items"]] == [e.pk for e in reversed(entries)][:3]
    item = data["items"][0]
    assert set(item) >= {"id", "kind", "headline", "body", "body_html", "authors", "status", "published_at",
                         "updated_at", "key_event", "pinned", "version", "url"}
    assert item["authors"] == [{"name": entries[-1].authors.get().name}]
    assert data["next"]


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(min_value=1, max_value=8))
def test_pagination_walks_every_entry_exactly_once(client, blog, entries, limit):
    seen, cursor = [], None
    while True:
        url = f"/api/blogs/{blog.slug}/entries?limit={limit}" + (f"&before={cursor}" if cursor else "")
        data = client.get(url).json()
        seen += [e["id"] for e in data["items"]]
        cursor = data["next"]
        if cursor is None:
            break
    assert seen == [e.pk for e in reversed(entries)]


def test_entries_with_the_same_publication_time_are_not_skipped(client, blog, reporter):
    made = [make_entry(blog=blog, user=reporter, body=f"tie {i}") for i in range(5)]
    same = timezone.now() - timedelta(minutes=5)
    type(made[0]).objects.filter(pk__in=[e.pk for e in made]).update(published_at=same)
    seen, cursor = [], None
    while True:
        data = client.get(f"/api/blogs/{blog.slug}/entries?limit=2" + (f"&before={cursor}" if cursor else "")).json()
        seen += [e["id"] for e in data["items"]]
        if not (cursor := data["next"]):
            break
    assert sorted(seen) == sorted(e.pk for e in made) and len(seen) == 5


@pytest.mark.parametrize("query,status", [("limit=0", 422), ("limit=101", 422), ("limit=abc", 422),
                                          ("before=garbage", 400), ("before=1_x", 400)])
def test_bad_paging_parameters_are_clear_4xx(client, blog, query, status):
    response = client.get(f"/api/blogs/{blog.slug}/entries?{query}")
    assert response.status_code == status
    assert response.json()["detail"]


def test_one_entry_and_never_an_unpublished_one(client, blog, reporter, entries):
    assert client.get(f"/api/blogs/{blog.slug}/entries/{entries[0].pk}").json()["body"] == "Update 0"
    draft = make_entry(blog=blog, user=reporter, body="draft", status="draft")
    services.entry_delete(entry=entries[1], user=reporter)
    for entry, status in ((draft, 404), (entries[1], 410)):  # a deleted entry is Gone
        assert client.get(f"/api/blogs/{blog.slug}/entries/{entry.pk}").status_code == status
    listed = [e["id"] for e in client.get(f"/api/blogs/{blog.slug}/entries?limit=100").json()["items"]]
    assert draft.pk not in listed and entries[1].pk not in listed


def test_updates_since_a_seq_are_the_event_messages_in_order(client, blog, reporter, entries):
    before = Event.objects.filter(blog=blog).order_by("seq").last().seq
    services.entry_edit(entry=entries[0], user=reporter, version=entries[0].version, body="Edited")
    services.entry_delete(entry=entries[1], user=reporter)
    data = client.get(f"/api/blogs/{blog.slug}/updates?since={before}").json()
    assert data["seq"] == before + 2
    assert [(m["seq"], m["type"]) for m in data["events"]] == [
        (before + 1, "entry.updated"), (before + 2, "entry.deleted")]
    assert data["events"][0]["entry"]["body"] == "Edited"
    assert data["events"] == [e.message for e in Event.objects.filter(blog=blog, seq__gt=before).order_by("seq")]
    assert data["has_more"] is False
    caught_up = client.get(f"/api/blogs/{blog.slug}/updates?since={data['seq']}").json()
    assert caught_up == {"seq": data["seq"], "events": [], "has_more": False, "push": "sse", "poll_ms": 5000}


def test_updates_reject_a_negative_seq(client, blog):
    response = client.get(f"/api/blogs/{blog.slug}/updates?since=-1")
    assert response.status_code == 422
    assert "since" in response.json()["detail"]


def test_openapi_document_and_docs_are_served(client):
    spec = client.get("/api/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/blogs", "/api/blogs/{slug}", "/api/blogs/{slug}/entries",
                 "/api/blogs/{slug}/entries/{entry_id}", "/api/blogs/{slug}/updates", "/api/blogs/{slug}/close"):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/blogs"])
    assert {"patch", "delete"} <= set(paths["/api/blogs/{slug}/entries/{entry_id}"])
    assert client.get("/api/docs").status_code == 200


def test_public_reads_may_be_fetched_from_other_origins(client, blog):
    for url in ("/api/blogs", f"/api/blogs/{blog.slug}", f"/api/blogs/{blog.slug}/updates?since=0"):
        assert client.get(url)["Access-Control-Allow-Origin"] == "*"


def test_polling_ahead_of_the_log_gets_the_latest_seq_and_nothing_else(client, blog):
    blog.refresh_from_db()
    data = client.get(f"/api/blogs/{blog.slug}/updates?since=999999").json()
    assert data == {"seq": blog.last_seq, "events": [], "has_more": False, "push": "sse", "poll_ms": 5000}
