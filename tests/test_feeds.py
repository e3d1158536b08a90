"""RSS 2.0, Atom 1.0 and JSON Feed 1.1 per blog: the latest published
entries, stable ids, edits in ``updated``, conditional GET with 304."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import pytest
from django.db.models import F

from posts.domain import services
from posts.domain.models import Entry

from .factories import make_blog, make_entry


@pytest.fixture
def entries(blog, reporter):
    return [make_entry(blog=blog, user=reporter, headline=f"H{i}", body=f"Body **{i}**") for i in range(3)]


def _feed(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content[:200]
    return response, feedparser.parse(response.content)


@pytest.mark.parametrize("kind,version", [("rss", "rss20"), ("atom", "atom10")])
def test_feed_lists_published_entries_newest_first_with_permalink_ids(client, blog, entries, kind, version):
    response, feed = _feed(client, f"/live/{blog.slug}/feed.{kind}")
    assert feed.version == version
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == blog.title
    assert [e.title for e in feed.entries] == ["H2", "H1", "H0"]
    first = feed.entries[0]
    assert first.id == first.link
    assert first.link.endswith(f"/live/{blog.slug}/entries/{entries[2].pk}/")
    if kind == "atom":  # Atom's summary is HTML content; RSS's is plain text (tests/test_feeds_plain.py)
        assert "<strong>2</strong>" in first.summary
    else:
        assert first.summary == "Body 2"
    assert first.author
    assert response["Content-Type"].startswith("application/rss+xml" if kind == "rss" else "application/atom+xml")


def test_edits_move_the_atom_updated_date_but_not_the_id(client, blog, reporter, entries,
                                                         django_capture_on_commit_callbacks):
    # Feed dates have one-second precision: let the entries be an hour old.
    Entry.objects.filter(blog=blog).update(published_at=F("published_at") - timedelta(hours=1))
    _, before = _feed(client, f"/live/{blog.slug}/feed.atom")
    original = {e.id: e for e in before.entries}
    target = entries[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_edit(entry=target, user=reporter, version=target.version, body="Corrected")
    _, after = _feed(client, f"/live/{blog.slug}/feed.atom")
    edited = next(e for e in after.entries if e.link.endswith(f"/entries/{target.pk}/"))
    assert edited.id in original
    assert edited.updated_parsed > original[edited.id].updated_parsed
    assert "Corrected" in edited.summary
    assert after.feed.updated_parsed >= edited.updated_parsed


def test_feeds_never_carry_unpublished_entries_and_stop_at_fifty(client, blog, reporter):
    for i in range(52):
        make_entry(blog=blog, user=reporter, body=f"n{i}")
    make_entry(blog=blog, user=reporter, body="a draft", status="draft")
    _, rss = _feed(client, f"/live/{blog.slug}/feed.rss")
    assert len(rss.entries) == 50
    assert all("draft" not in e.summary for e in rss.entries)
    data = client.get(f"/live/{blog.slug}/feed.json").json()
    assert len(data["items"]) == 50


def test_json_feed_follows_version_one_point_one(client, blog, reporter, entries):
    response = client.get(f"/live/{blog.slug}/feed.json")
    assert response["Content-Type"].startswith("application/feed+json")
    data = response.json()
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert data["title"] == blog.title
    assert data["home_page_url"].endswith(f"/live/{blog.slug}/")
    assert data["feed_url"].endswith(f"/live/{blog.slug}/feed.json")
    item = data["items"][0]
    assert item["id"] == item["url"] and item["url"].endswith(f"/entries/{entries[2].pk}/")
    assert item["title"] == "H2"
    assert item["content_html"] == "<p>Body <strong>2</strong></p>"
    assert item["date_published"] and item["date_modified"]
    assert item["authors"] == [{"name": entries[2].authors.get().name}]


@pytest.mark.parametrize("kind", ["rss", "atom", "json"])
def test_conditional_get_answers_304_until_the_blog_changes(client, blog, reporter, entries, kind,
                                                            django_capture_on_commit_callbacks):
    url = f"/live/{blog.slug}/feed.{kind}"
    first = client.get(url)
    assert first["ETag"] and first["Last-Modified"]
    assert "max-age=" in first["Cache-Control"] and first["Surrogate-Key"] == f"blog-{blog.slug}"
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        make_entry(blog=blog, user=reporter, body="Breaking")
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert b"Breaking" in changed.content


def test_feeds_of_draft_or_unknown_blogs_are_404(client, editor):
    draft = make_blog(editor=editor, title="Draft", status="draft")
    for kind in ("rss", "atom", "json"):
        assert client.get(f"/live/{draft.slug}/feed.{kind}").status_code == 404
        assert client.get(f"/live/nope/feed.{kind}").status_code == 404
