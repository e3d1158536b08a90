"""Scheduled opening (docs/scheduler.md#scheduled-opening): a draft blog
scheduled to open shows a countdown page and its blog in the API (never its
entries), readers may ask for a Web Push at the start, and the scheduler
takes it live once, with one ``blog.opened`` event, on both profiles. A live
blog with no new entry for a while is flagged on the desk."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from posts.domain import selectors, services
from posts.domain.errors import Conflict, ErrorCode, Invalid
from posts.domain.models import Blog, Entry, Event
from posts.domain.tasks import publish_scheduled_task

from .factories import make_blog, make_entry
from .test_push import Browser, _subscribe, push_service, vapid  # noqa: F401 - fixtures


@pytest.fixture
def upcoming(editor):
    opens_at = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    return make_blog(editor=editor, title="Debate night", status="draft", opens_at=opens_at,
                     standfirst="The leaders meet at **nine**.")


# --- Services -----------------------------------------------------------------


def test_a_draft_is_scheduled_rescheduled_and_unscheduled(blog, editor):
    draft = make_blog(editor=editor, title="Later", status="draft")
    at = timezone.now() + timedelta(hours=1)
    services.blog_update(blog=draft, user=editor, opens_at=at)
    assert Blog.objects.get(pk=draft.pk).opens_at == at
    assert selectors.upcoming_blog(draft.slug) == draft
    services.blog_update(blog=draft, user=editor, opens_at=None)
    assert selectors.upcoming_blog(draft.slug) is None


@pytest.mark.parametrize(
    ("opens_at", "message"),
    [
        (lambda: timezone.now() - timedelta(minutes=5), "past"),
        (lambda: datetime(2030, 1, 1, 19, 0), "time zone"),
    ],
)
def test_an_opening_in_the_past_or_without_a_zone_is_refused(editor, opens_at, message):
    draft = make_blog(editor=editor, title="Later", status="draft")
    with pytest.raises(Invalid) as refused:
        services.blog_update(blog=draft, user=editor, opens_at=opens_at())
    assert refused.value.field == "opens_at" and message in refused.value.message
    assert Blog.objects.get(pk=draft.pk).opens_at is None


def test_only_a_draft_can_be_scheduled(blog, editor):
    with pytest.raises(Conflict) as refused:
        services.blog_update(blog=blog, user=editor, opens_at=timezone.now() + timedelta(hours=1))
    assert refused.value.code == ErrorCode.BLOG_WENT_LIVE


def test_the_blog_opens_once_at_its_time_with_one_blog_opened_event(upcoming):
    assert services.open_due_blogs() == 0
    assert services.open_due_blogs(now=upcoming.opens_at - timedelta(seconds=1)) == 0
    opens_at = upcoming.opens_at
    assert services.open_due_blogs(now=opens_at) == 1
    assert services.open_due_blogs(now=opens_at + timedelta(seconds=5)) == 0
    upcoming.refresh_from_db()
    assert (upcoming.status, upcoming.opens_at, upcoming.coverage_start) == ("live", None, opens_at)
    [opened] = Event.objects.filter(blog=upcoming, type="blog.opened")
    assert opened.payload["blog"]["status"] == "live" and opened.seq == upcoming.last_seq


def test_the_beat_task_opens_due_blogs_and_publishes_due_entries(upcoming, reporter, editor, monkeypatch):
    Blog.objects.filter(pk=upcoming.pk).update(opens_at=timezone.now() - timedelta(seconds=1))
    assert publish_scheduled_task() == 1
    assert Blog.objects.get(pk=upcoming.pk).status == "live"


def test_an_editor_opening_a_scheduled_blog_early_is_blog_opened_too(upcoming, editor):
    services.blog_open(blog=upcoming, user=editor)
    upcoming.refresh_from_db()
    assert upcoming.status == "live" and upcoming.opens_at is None
    assert Event.objects.filter(blog=upcoming, type="blog.opened").count() == 1
    plain = make_blog(editor=editor, title="Unscheduled", status="draft")
    services.blog_open(blog=plain, user=editor)
    assert list(Event.objects.filter(blog=plain).values_list("type", flat=True)) == ["blog.updated", "blog.updated"]


# --- Reader side --------------------------------------------------------------------


def test_the_countdown_page_says_when_and_shows_no_entries(client, upcoming, editor):
    make_entry(blog=upcoming, user=editor, body="Written in advance, not public.")
    response = client.get(f"/live/{upcoming.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    when = upcoming.opens_at.astimezone(UTC)
    assert f"Starts at <time datetime=\"{when.isoformat().replace('+00:00', 'Z')}\"" in html
    assert f"{when:%H:%M} UTC" in html and "data-countdown" in html and 'role="timer"' in html
    assert "Debate night" in html and "<strong>nine</strong>" in html
    assert "Written in advance" not in html and "<article" not in html
    assert 'data-push-subscribe="' in html and "Notify me when it starts" in html
    assert "/static/live/countdown." in html and "<script>" not in html
    assert response["Cache-Control"].startswith("public")


def test_the_api_shows_the_scheduled_blog_but_never_its_entries(client, upcoming, editor):
    make_entry(blog=upcoming, user=editor, body="Written in advance, not public.")
    data = client.get(f"/api/blogs/{upcoming.slug}").json()
    assert data["status"] == "draft" and data["opens_at"] and data["pinned"] is None and data["key_events"] == []
    assert client.get(f"/api/blogs/{upcoming.slug}/entries").status_code == 404
    assert client.get(f"/api/blogs/{upcoming.slug}/updates").status_code == 404
    assert upcoming.slug not in client.get("/api/blogs").content.decode()
    plain = make_blog(editor=editor, title="Secret draft", status="draft")
    assert client.get(f"/live/{plain.slug}/").status_code == 404
    assert client.get(f"/api/blogs/{plain.slug}").status_code == 404


def test_the_page_becomes_the_live_blog_once_it_opens(client, upcoming, reporter, django_capture_on_commit_callbacks):
    assert "data-countdown" in client.get(f"/live/{upcoming.slug}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.open_due_blogs(now=upcoming.opens_at)
    html = client.get(f"/live/{upcoming.slug}/").content.decode()
    assert "data-countdown" not in html and 'data-live="true"' in html
    assert client.get(f"/api/blogs/{upcoming.slug}").json()["status"] == "live"


def test_the_api_schedules_an_opening(editor):
    _, key = services.token_create(user=editor)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    created = api.post("/api/blogs", {"title": "Count", "status": "draft", "opens_at": "2031-05-02T19:00:00Z"},
                       content_type="application/json")
    assert created.status_code == 201 and created.json()["opens_at"] == "2031-05-02T19:00:00Z"
    slug = created.json()["slug"]
    moved = api.patch(f"/api/blogs/{slug}", {"opens_at": "2031-05-02T20:00:00+00:00"}, content_type="application/json")
    assert moved.json()["opens_at"] == "2031-05-02T20:00:00Z"
    naive = api.patch(f"/api/blogs/{slug}", {"opens_at": "2031-05-02T20:00"}, content_type="application/json")
    assert naive.status_code == 422 and naive.json()["field"] == "opens_at"
    live = api.post("/api/blogs", {"title": "Live now", "status": "live", "opens_at": "2031-05-02T19:00:00Z"},
                    content_type="application/json")
    assert live.status_code == 409 and live.json()["code"] == "blog_went_live"
    cleared = api.patch(f"/api/blogs/{slug}", {"opens_at": None}, content_type="application/json")
    assert cleared.json()["opens_at"] is None


def test_the_desk_schedules_an_opening_in_the_editors_zone(editor):
    draft = make_blog(editor=editor, title="Later", status="draft")
    desk = Client()
    desk.force_login(editor)
    response = desk.post(f"/desk/blogs/{draft.slug}/settings/", {"opens_at": "2031-05-02T21:00", "tz_offset": "-120"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.opens_at == datetime(2031, 5, 2, 19, 0, tzinfo=UTC)
    page = desk.get(f"/desk/blogs/{draft.slug}/").content.decode()
    assert "Scheduled to open at" in page and f'href="/live/{draft.slug}/"' in page
    past = desk.post(f"/desk/blogs/{draft.slug}/settings/", {"opens_at": "2001-01-01T10:00", "tz_offset": "0"})
    assert past.status_code == 422 and "in the past" in past.content.decode()


def test_readers_waiting_for_the_start_are_pushed_when_it_opens(
    upcoming, vapid, push_service, django_capture_on_commit_callbacks  # noqa: F811
):
    browser = Browser(f"{push_service.url}/push/start")
    assert _subscribe(upcoming, browser).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        services.open_due_blogs(now=upcoming.opens_at)
    [request] = push_service.wait_for(1)
    note = browser.decrypt(request.body)
    assert note["title"] == "Debate night" and note["body"] == "The live blog has started."
    assert note["url"].endswith(f"/live/{upcoming.slug}/")
    plain = make_blog(editor=upcoming.memberships.first().user, title="Not scheduled", status="draft")
    assert _subscribe(plain, Browser(f"{push_service.url}/push/x")).status_code == 404


# --- The quiet flag ---------------------------------------------------------------------


def test_a_live_blog_without_a_new_entry_for_a_while_is_flagged_on_the_desk(blog, editor, reporter, settings):
    settings.LIVEBLOG_QUIET_MINUTES = 30
    entry = make_entry(blog=blog, user=reporter, body="Early news.")
    assert selectors.quiet_since(blog=blog) is None
    long_ago = timezone.now() - timedelta(minutes=45)
    Entry.objects.filter(pk=entry.pk).update(published_at=long_ago)
    Blog.objects.filter(pk=blog.pk).update(coverage_start=long_ago - timedelta(hours=1))
    blog.refresh_from_db()
    assert selectors.quiet_since(blog=blog) == long_ago
    desk = Client()
    desk.force_login(editor)
    home = desk.get("/desk/").content.decode()
    assert re.search(r"Quiet\s+\d+", home) or "Quiet 45" in home
    page = desk.get(f"/desk/blogs/{blog.slug}/").content.decode()
    assert re.search(r'id="quiet-notice" data-quiet>', page), "shown, not hidden"
    assert desk.get(f"/desk/blogs/{blog.slug}/state/").json()["quiet_since"]
    make_entry(blog=blog, user=reporter, body="Fresh news.")
    assert selectors.quiet_since(blog=blog) is None
    assert desk.get(f"/desk/blogs/{blog.slug}/state/").json()["quiet_since"] is None
    settings.LIVEBLOG_QUIET_MINUTES = 0
    Entry.objects.filter(blog=blog).update(published_at=long_ago)
    assert selectors.quiet_since(blog=blog) is None
