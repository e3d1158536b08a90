"""The public live page, permalinks and home: server-rendered, newest
first, readable without JavaScript, with JSON-LD for search engines."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from posts.domain import services
from posts.domain.models import Entry

from .factories import make_blog, make_entry


def _article_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article id="entry-(\d+)"', html)]


def _jsonld(html: str) -> dict:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


def _get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.content[:300]
    return response.content.decode()


@pytest.fixture
def entries(blog, reporter):
    return [make_entry(blog=blog, user=reporter, body=f"Update number {i}.", headline=f"Headline {i}")
            for i in range(5)]


def test_live_page_lists_entries_newest_first_as_articles_with_utc_times(client, blog, entries):
    html = _get(client, f"/live/{blog.slug}/")
    assert _article_ids(html) == [e.pk for e in reversed(entries)]
    newest = entries[-1]
    stamp = newest.published_at.isoformat().replace("+00:00", "Z")
    assert f'<time datetime="{stamp}" data-local="time">' in html
    assert "Headline 4" in html and "Update number 4." in html
    assert "By " in html


def test_first_page_holds_twenty_entries_and_links_to_older_ones(client, blog, reporter, settings):
    made = [make_entry(blog=blog, user=reporter, body=f"n{i}") for i in range(23)]
    html = _get(client, f"/live/{blog.slug}/")
    assert len(_article_ids(html)) == settings.LIVEBLOG_PAGE_SIZE == 20
    older = re.search(r'href="\?before=([^"]+)"', html).group(1)
    page2 = _get(client, f"/live/{blog.slug}/?before={older}")
    assert _article_ids(page2) == [e.pk for e in reversed(made[:3])]
    assert "?before=" not in page2.split("pager")[-1]
    assert "Back to the latest" in page2


def test_pagination_by_cursor_shows_every_entry_exactly_once(client, blog, reporter, settings):
    settings.LIVEBLOG_PAGE_SIZE = 4
    made = [make_entry(blog=blog, user=reporter, body=f"n{i}") for i in range(11)]
    seen, url = [], f"/live/{blog.slug}/"
    while url:
        html = _get(client, url)
        seen += _article_ids(html)
        match = re.search(r'href="(\?before=[^"]+)"', html)
        url = f"/live/{blog.slug}/{match.group(1)}" if match else None
    assert seen == [e.pk for e in reversed(made)]


def test_a_broken_cursor_is_a_clear_400(client, blog):
    response = client.get(f"/live/{blog.slug}/?before=not-a-cursor")
    assert response.status_code == 400
    assert b"broken" in response.content


def test_edit_after_publish_shows_updated_marker(client, blog, reporter, django_capture_on_commit_callbacks):
    entry = make_entry(blog=blog, user=reporter, body="Teh vote")
    assert "Updated" not in _get(client, f"/live/{blog.slug}/").split(f'id="entry-{entry.pk}"')[1]
    with django_capture_on_commit_callbacks(execute=True):  # the commit runs the fan-out
        services.entry_edit(entry=entry, user=reporter, version=entry.version, body="The vote")
    html = _get(client, f"/live/{blog.slug}/")
    article = html.split(f'id="entry-{entry.pk}"')[1].split("</article>")[0]
    assert "The vote" in article
    assert 'class="entry__updated">Updated <time' in article


def test_key_events_and_summaries_are_styled_and_listed(client, blog, reporter):
    key = make_entry(blog=blog, user=reporter, headline="Result declared", body="x", key_event=True)
    summary = make_entry(blog=blog, user=reporter, kind="summary", headline="So far", body="y")
    html = _get(client, f"/live/{blog.slug}/")
    assert re.search(rf'<article id="entry-{key.pk}" class="entry entry--update entry--key"', html)
    assert re.search(rf'<article id="entry-{summary.pk}" class="entry entry--summary"', html)
    nav = html.split('aria-labelledby="key-events-title"')[1].split("</nav>")[0]
    assert f'href="#entry-{key.pk}"' in nav and "Result declared" in nav


def test_key_event_off_the_first_page_links_to_its_permalink(client, blog, reporter, settings):
    settings.LIVEBLOG_PAGE_SIZE = 2
    key = make_entry(blog=blog, user=reporter, headline="Early key moment", body="x", key_event=True)
    for i in range(3):
        make_entry(blog=blog, user=reporter, body=f"later {i}")
    html = _get(client, f"/live/{blog.slug}/")
    assert f'href="/live/{blog.slug}/entries/{key.pk}/#entry-{key.pk}"' in html
    around = _get(client, f"/live/{blog.slug}/entries/{key.pk}/")
    assert key.pk in _article_ids(around)


def test_pinned_entry_is_shown_at_the_top_once(client, blog, reporter, entries):
    services.entry_pin(entry=entries[1], user=reporter)
    html = _get(client, f"/live/{blog.slug}/")
    ids = _article_ids(html)
    assert ids[0] == entries[1].pk
    assert ids.count(entries[1].pk) == 1
    assert len(ids) == len(entries)


def test_drafts_scheduled_and_deleted_entries_never_appear(client, blog, reporter):
    draft = make_entry(blog=blog, user=reporter, body="secret draft", status="draft")
    scheduled = make_entry(blog=blog, user=reporter, body="secret later", status="scheduled",
                           publish_at=timezone.now() + timedelta(hours=1))
    gone = make_entry(blog=blog, user=reporter, body="secret deleted")
    services.entry_delete(entry=gone, user=reporter)
    html = _get(client, f"/live/{blog.slug}/")
    assert "secret" not in html
    for entry, status in ((draft, 404), (scheduled, 404), (gone, 410)):
        assert "secret" not in _get(client, f"/live/{blog.slug}/entries/{entry.pk}/", status=status)


def test_draft_blogs_are_not_public(client, editor):
    draft = make_blog(editor=editor, title="Embargoed", status="draft")
    _get(client, f"/live/{draft.slug}/", status=404)
    assert "Embargoed" not in _get(client, "/")


def test_permalink_shows_the_page_around_the_entry(client, blog, reporter):
    made = [make_entry(blog=blog, user=reporter, body=f"n{i}") for i in range(30)]
    target = made[15]
    html = _get(client, f"/live/{blog.slug}/entries/{target.pk}/")
    ids = _article_ids(html)
    assert target.pk in ids
    assert ids == sorted(ids, reverse=True)
    assert made[25].pk in ids and made[5].pk in ids
    assert made[29].pk not in ids
    assert "entry--highlight" in html.split(f'id="entry-{target.pk}"')[1].split(">")[0]
    assert '<link rel="canonical" href="http' in html


def test_closed_blog_shows_the_closing_note_and_stops_updating(client, blog, editor, entries):
    services.blog_close(blog=blog, user=editor, body="That's all from us tonight.", headline="Goodnight")
    html = _get(client, f"/live/{blog.slug}/")
    assert 'data-live="false"' in html
    assert "has ended" in html and "hidden role" not in html.split("data-closed-note")[1][:20]
    closing = Entry.objects.get(blog=blog, kind="closing")
    assert _article_ids(html)[0] == closing.pk
    assert "Closing note" in html


def test_open_blog_page_asks_for_updates_from_its_seq(client, blog, entries):
    blog.refresh_from_db()
    html = _get(client, f"/live/{blog.slug}/")
    assert 'data-live="true"' in html
    assert f'data-seq="{blog.last_seq}"' in html
    assert f'data-updates-url="/api/blogs/{blog.slug}/updates"' in html
    assert f'data-events-url="/live/{blog.slug}/events"' in html


class _Landmarks(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_page_is_accessible_with_landmarks_live_region_and_skip_link(client, blog, entries):
    parser = _Landmarks()
    parser.feed(_get(client, f"/live/{blog.slug}/"))
    tags = parser.tags
    names = [t for t, _ in tags]
    assert {"header", "main", "nav", "footer", "h1"} <= set(names)
    assert names.count("h1") == 1
    assert any(a.get("aria-live") == "polite" for _, a in tags)
    assert any(t == "a" and a.get("class") == "skip-link" and a.get("href") == "#main" for t, a in tags)
    articles = [a for t, a in tags if t == "article"]
    assert all(a.get("aria-labelledby") and a.get("tabindex") == "-1" for a in articles)
    assert ("html", {"lang": "en-GB"}) in tags


def test_reporter_markup_in_a_headline_is_escaped(client, blog, reporter):
    make_entry(blog=blog, user=reporter, headline="<script>alert(1)</script>", body="<img src=x onerror=alert(1)>")
    html = _get(client, f"/live/{blog.slug}/")
    assert "<script>alert(1)" not in html
    assert "onerror" not in html


def test_json_ld_describes_a_live_blog_posting(client, blog, reporter):
    key = make_entry(blog=blog, user=reporter, headline="Polls close", body="**Exit poll** due.")
    plain = make_entry(blog=blog, user=reporter, body="A quiet moment </script><b>x</b>")
    services.entry_edit(entry=key, user=reporter, version=key.version, body="**Exit poll** now due.")
    data = _jsonld(_get(client, f"/live/{blog.slug}/"))
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "LiveBlogPosting"
    assert data["headline"] == blog.title
    assert data["url"].endswith(f"/live/{blog.slug}/")
    for field in ("description", "datePublished", "dateModified", "coverageStartTime"):
        assert data[field]
    assert "coverageEndTime" not in data
    updates = {u["url"].rsplit("#entry-", 1)[-1]: u for u in data["liveBlogUpdate"]}
    first = updates[str(key.pk)]
    assert first["@type"] == "BlogPosting"
    assert first["headline"] == "Polls close"
    assert first["articleBody"] == "Exit poll now due."
    assert first["dateModified"] > first["datePublished"]
    assert first["author"] == [{"@type": "Person", "name": key.authors.get().name}]
    assert updates[str(plain.pk)]["headline"].startswith("A quiet moment")


def test_json_ld_gets_coverage_end_once_closed(client, blog, editor):
    services.blog_close(blog=blog, user=editor, body="Bye.")
    blog.refresh_from_db()
    data = _jsonld(_get(client, f"/live/{blog.slug}/"))
    assert data["coverageEndTime"] == blog.coverage_end.isoformat().replace("+00:00", "Z")


def test_home_lists_live_and_recent_blogs(client, editor):
    live = make_blog(editor=editor, title="Budget day")
    ended = make_blog(editor=editor, title="Cup final")
    services.blog_close(blog=ended, user=editor, body="Full time.")
    make_blog(editor=editor, title="Secret draft", status="draft")
    html = _get(client, "/")
    assert "Budget day" in html and f'href="/live/{live.slug}/"' in html
    assert "Cup final" in html
    assert html.index("Budget day") < html.index("Cup final")
    assert "Secret draft" not in html
