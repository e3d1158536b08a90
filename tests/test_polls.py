"""Reader polls (docs/polls.md): the service rules, the API and event shapes,
the vote endpoint (Origin, signed cookie, rate limit, closing), the no-JS
form post, poll.updated (live only, coalesced, opt-in webhooks, caches left
alone) and "N reading now". Counting here is the database table (no Redis);
tests/test_polls_redis.py counts through a Redis of its own."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from posts.delivery import cache as cache_versions
from posts.delivery import channel, counts
from posts.domain import polls, services
from posts.domain.errors import Conflict, ErrorCode, Invalid, NotAllowed
from posts.domain.events import PollUpdated, ReadersNow, event_message, live_message
from posts.domain.models import Event, Poll, PollOption, PollVote, WebhookDelivery
from posts.web import caching
from tests.factories import make_entry

from .fanout_support import Recorder

POLL = {"question": "Who won the debate?", "options": ["Ayala", "Brooks", "Too close to call"]}


@pytest.fixture(autouse=True)
def _fresh_poll_counts():
    """Poll ids come round again between test runs: no totals left in Redis."""
    polls._meta.clear()
    client = polls.redis_client()
    if client is not None:
        for key in client.scan_iter(match=f"{polls._prefix()}*", count=1000):
            client.delete(key)
    yield
    polls._meta.clear()


def counted(poll=None) -> int:
    """Votes counted, flushed or not, in every poll (or one)."""
    return sum(sum(polls.running_totals(p).values()) for p in ([poll] if poll else Poll.objects.all()))


def _poll_entry(blog, user, commit=None, **poll):
    spec = {**POLL, **poll}
    if commit is None:
        return make_entry(blog=blog, user=user, body="Tell us.", poll=spec)
    with commit(execute=True):
        return make_entry(blog=blog, user=user, body="Tell us.", poll=spec)


def _vote(client, blog, poll, option, **extra):
    return client.post(f"/live/{blog.slug}/polls/{poll.pk}/vote", {"option": option.pk}, **extra)


def _json_vote(client, blog, poll, option, **extra):
    return client.post(
        f"/live/{blog.slug}/polls/{poll.pk}/vote", {"option": option.pk}, HTTP_ACCEPT="application/json", **extra
    )


# --- Services ---------------------------------------------------------------------


def test_a_poll_is_created_with_its_entry_in_one_event(blog, reporter, django_capture_on_commit_callbacks):
    before = Event.objects.filter(blog=blog).count()
    entry = _poll_entry(blog, reporter, django_capture_on_commit_callbacks)
    poll = Poll.objects.get(entry=entry)
    assert poll.question == POLL["question"]
    assert [o.label for o in poll.options.all()] == POLL["options"]
    [event] = Event.objects.filter(blog=blog)[before:]
    assert event.type == "entry.published"
    shape = event.payload["entry"]["poll"]
    assert shape == {
        "id": poll.pk, "question": POLL["question"], "total": 0, "closes_at": None, "closed": False,
        "options": [{"id": o.pk, "label": o.label, "votes": 0} for o in poll.options.all()],
    }
    assert isinstance(event_message.validate_python(event.message).entry.poll.id, int)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"question": "", "options": ["a", "b"]}, "poll.question"),
        ({"question": "Q?", "options": ["only one"]}, "poll.options"),
        ({"question": "Q?", "options": [str(i) for i in range(7)]}, "poll.options"),
        ({"question": "Q?", "options": ["Yes", "yes"]}, "poll.options"),
        ({"question": "Q?", "options": ["a", "b"], "closes_at": "yesterday"}, "poll.closes_at"),
        ({"question": "Q?", "options": ["a", "b"], "closes_at": "2001-01-01T00:00:00Z"}, "poll.closes_at"),
        ({"question": "Q\x00?", "options": ["a", "b"]}, "poll.question"),
        ({"question": "Q?", "options": ["a", "b"], "colour": "red"}, "poll"),
    ],
)
def test_a_bad_poll_is_refused_naming_the_part_and_nothing_is_stored(blog, reporter, spec, field):
    entries = blog.entries.count()
    with pytest.raises(Invalid) as refused:
        make_entry(blog=blog, user=reporter, poll=spec)
    assert refused.value.field == field
    assert blog.entries.count() == entries and not Poll.objects.exists()


def test_votes_are_appended_then_flushed_and_closing_freezes_the_result(
    blog, reporter, django_capture_on_commit_callbacks
):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    first, second, _third = poll.options.all()
    for i in range(3):
        services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=first.pk, address=f"10.0.0.{i}")
    services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=second.pk, address="10.0.0.9")
    if polls.redis_client() is None:
        assert PollVote.objects.count() == 4  # inserted, nothing updated yet
    assert polls.running_totals(poll) == {first.pk: 3, second.pk: 1, _third.pk: 0}

    assert services.polls_flush() == [poll.pk]
    assert not PollVote.objects.exists()  # in Redis mode, never any
    assert dict(PollOption.objects.values_list("pk", "votes")) == {first.pk: 3, second.pk: 1, _third.pk: 0}
    assert services.polls_flush() == []  # nothing new: no tallies, no writes

    services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=second.pk, address="10.0.0.10")
    before = Event.objects.filter(blog=blog).count()
    with django_capture_on_commit_callbacks(execute=True):
        services.poll_close(poll=poll, user=reporter)
    poll.refresh_from_db()
    assert poll.closed_at is not None
    [closed] = Event.objects.filter(blog=blog)[before:]
    assert closed.type == "entry.updated"
    assert closed.payload["entry"]["poll"]["closed"] is True
    assert [o["votes"] for o in closed.payload["entry"]["poll"]["options"]] == [3, 2, 0]
    with pytest.raises(Conflict) as refused:
        services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=first.pk, address="10.0.0.11")
    assert refused.value.code == ErrorCode.POLL_CLOSED and refused.value.status_code == 409
    assert sum(polls.running_totals(poll).values()) == 5


def test_a_poll_closes_by_itself_at_its_time_with_an_event(blog, reporter, django_capture_on_commit_callbacks):
    closes = timezone.now() + timedelta(minutes=5)
    entry = _poll_entry(blog, reporter, closes_at=closes)
    poll = entry.poll
    option = poll.options.first()
    services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=option.pk, address="10.0.0.1")
    assert services.polls_flush(now=closes - timedelta(seconds=1)) == [poll.pk]
    before = Event.objects.filter(blog=blog).count()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.polls_flush(now=closes + timedelta(seconds=1)) == [poll.pk]
    poll.refresh_from_db()
    assert poll.closed_at == closes
    assert [e.type for e in Event.objects.filter(blog=blog)[before:]] == ["entry.updated"]


def test_options_cannot_change_once_readers_have_voted(blog, reporter):
    entry = _poll_entry(blog, reporter)
    option = entry.poll.options.first()
    services.poll_vote(slug=blog.slug, poll_id=entry.poll.pk, option_id=option.pk, address="10.0.0.1")
    with pytest.raises(Conflict) as refused:
        services.entry_edit(entry=entry, user=reporter, version=entry.version,
                            poll={"question": "New?", "options": ["x", "y"]})
    assert refused.value.code == ErrorCode.POLL_HAS_VOTES
    # The question may still be reworded: the votes stay with their options.
    edited = services.entry_edit(entry=entry, user=reporter, version=entry.version,
                                 poll={**POLL, "question": "Who won tonight's debate?"})
    assert Poll.objects.get(entry=edited).question == "Who won tonight's debate?"
    assert sum(polls.running_totals(Poll.objects.get(entry=edited)).values()) == 1


def test_contributors_cannot_close_a_poll(blog, reporter, contributor):
    entry = _poll_entry(blog, reporter)
    with pytest.raises(NotAllowed):
        services.poll_close(poll=entry.poll, user=contributor)


def test_erasing_the_entry_erases_its_poll(blog, editor, reporter):
    entry = _poll_entry(blog, reporter)
    services.entry_erase(entry=entry, user=editor, reason="Court order 12/34")
    assert not Poll.objects.exists() and not PollOption.objects.exists()


# --- API -----------------------------------------------------------------------------


@pytest.fixture
def api(editor):
    _, key = services.token_create(user=editor)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def test_api_creates_reads_and_closes_a_poll(api, blog):
    closes = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    response = api.post(
        f"/api/blogs/{blog.slug}/entries",
        {"body": "Vote now.", "poll": {**POLL, "closes_at": closes.isoformat()}},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    entry = response.json()
    poll = entry["poll"]
    assert set(poll) == {"id", "question", "options", "total", "closes_at", "closed"}
    assert [set(o) for o in poll["options"]] == [{"id", "label", "votes"}] * 3
    assert poll["closes_at"] == closes.isoformat().replace("+00:00", "Z") and poll["closed"] is False

    read = Client().get(f"/api/blogs/{blog.slug}/entries/{entry['id']}").json()
    assert read["poll"]["question"] == POLL["question"]

    closed = api.post(f"/api/blogs/{blog.slug}/entries/{entry['id']}/poll/close")
    assert closed.status_code == 200
    assert closed.json()["poll"]["closed"] is True and closed.json()["version"] == entry["version"] + 1
    document = Client().get("/api/openapi.json").json()
    assert "PollShape" in json.dumps(document)


def test_api_refuses_a_poll_with_one_option_with_a_422_naming_the_field(api, blog):
    response = api.post(f"/api/blogs/{blog.slug}/entries", {"body": "x", "poll": {"question": "Q", "options": ["a"]}},
                        content_type="application/json")
    assert response.status_code == 422
    assert "poll" in json.dumps(response.json())


def test_editors_turn_the_reader_count_on_through_the_api(api, blog):
    response = api.patch(f"/api/blogs/{blog.slug}", {"show_reader_count": True}, content_type="application/json")
    assert response.status_code == 200 and response.json()["show_reader_count"] is True
    assert Event.objects.filter(blog=blog).last().payload["blog"]["show_reader_count"] is True


# --- The vote endpoint -------------------------------------------------------------


def test_a_reader_votes_once_per_browser_with_a_signed_cookie(blog, reporter):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    option = poll.options.all()[1]
    reader = Client()
    response = _json_vote(reader, blog, poll, option)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["voted"] == option.pk and body["total"] == 1
    assert [o["votes"] for o in body["options"]] == [0, 1, 0]
    assert response["Cache-Control"] == "private, no-store"
    cookie = response.cookies[f"lbvote{poll.pk}"]
    assert cookie["httponly"] and cookie["path"] == f"/live/{blog.slug}/polls/"
    assert cookie["samesite"] == "Lax" and not cookie["secure"]  # plain http: SameSite=None needs Secure

    again = _json_vote(reader, blog, poll, poll.options.first())
    assert again.status_code == 409 and again.json()["code"] == "already_voted"
    assert again.json()["poll"]["total"] == 1 and again.json()["voted"] == option.pk

    forged = Client()
    forged.cookies[f"lbvote{poll.pk}"] = "2"  # not signed: ignored, the vote counts
    assert _json_vote(forged, blog, poll, option).status_code == 200
    assert counted() == 2


def test_over_https_the_voter_cookie_is_samesite_none_and_secure(blog, reporter, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    entry = _poll_entry(blog, reporter)
    response = _json_vote(Client(), blog, entry.poll, entry.poll.options.first(), HTTP_X_FORWARDED_PROTO="https")
    cookie = response.cookies[f"lbvote{entry.poll.pk}"]
    assert cookie["samesite"] == "None" and cookie["secure"]


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),
        ("http://testserver", 200),
        ("https://partner.example", 200),
        ("https://evil.example", 403),
        ("null", 403),
    ],
)
def test_votes_are_csrf_exempt_but_the_origin_is_checked(blog, reporter, settings, origin, status):
    settings.LIVEBLOG_EMBED_ORIGINS = ["https://partner.example"]
    entry = _poll_entry(blog, reporter)
    extra = {"HTTP_ORIGIN": origin} if origin else {}
    response = _json_vote(Client(enforce_csrf_checks=True), blog, entry.poll, entry.poll.options.first(), **extra)
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "forbidden_origin"
    assert counted() == (1 if status == 200 else 0)


def test_one_address_is_rate_limited_with_a_429(blog, reporter, settings):
    settings.LIVEBLOG_POLL_VOTES_PER_ADDRESS = 2
    entry = _poll_entry(blog, reporter)
    answers = [_json_vote(Client(REMOTE_ADDR="192.0.2.7"), blog, entry.poll, entry.poll.options.first())
               for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "rate_limited" and answers[2]["Retry-After"]
    assert _json_vote(Client(REMOTE_ADDR="192.0.2.8"), blog, entry.poll, entry.poll.options.first()).status_code == 200
    assert counted() == 3


def test_bad_votes_get_a_clear_4xx_never_a_500(blog, reporter, editor):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    url = f"/live/{blog.slug}/polls/{poll.pk}/vote"
    reader = Client()
    accept = {"HTTP_ACCEPT": "application/json"}
    assert reader.post(url, {"option": "abc"}, **accept).json()["code"] == "invalid"
    assert reader.post(url, {"option": "999999"}, **accept).status_code == 422
    assert reader.post(url, "{not json", content_type="application/json").status_code == 400
    assert reader.post(url, {"option": "x" * 5000}, **accept).status_code == 400
    assert reader.get(url).status_code == 405
    assert reader.post(f"/live/other-blog/polls/{poll.pk}/vote", {"option": 1}, **accept).status_code == 404
    assert reader.post(f"/live/{blog.slug}/polls/{poll.pk + 99}/vote", {"option": 1}, **accept).status_code == 404
    services.entry_delete(entry=entry, user=reporter)
    polls._meta.clear()
    assert reader.post(url, {"option": poll.options.first().pk}, **accept).status_code == 404
    assert counted(Poll.objects.get(pk=poll.pk)) == 0


def test_a_vote_after_the_close_is_a_409_with_the_frozen_result(blog, reporter):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    _json_vote(Client(), blog, poll, poll.options.first())
    services.poll_close(poll=poll, user=reporter)
    response = _json_vote(Client(), blog, poll, poll.options.first())
    assert response.status_code == 409 and response.json()["code"] == "poll_closed"
    assert response.json()["poll"]["total"] == 1 and response.json()["poll"]["closed"] is True


def test_without_javascript_the_form_post_answers_with_the_result_and_a_link_back(blog, reporter):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    page = Client().get(f"/live/{blog.slug}/").content.decode()
    assert f'action="/live/{blog.slug}/polls/{poll.pk}/vote"' in page and 'method="post"' in page
    assert 'type="radio" name="option"' in page

    reader = Client()
    answer = _vote(reader, blog, poll, poll.options.all()[2], HTTP_ACCEPT="text/html")
    html = answer.content.decode()
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/html")
    assert "your vote is counted" in html and "Too close to call (your vote)" in html
    assert "100% (1 vote)" in html
    assert f'href="/live/{blog.slug}/entries/{entry.pk}/#entry-{entry.pk}"' in html

    again = _vote(reader, blog, poll, poll.options.first(), HTTP_ACCEPT="text/html")
    assert again.status_code == 409 and "already voted" in again.content.decode()
    result = Client().get(f"/live/{blog.slug}/polls/{poll.pk}/result")
    assert result.status_code == 200 and "1 vote" in result.content.decode()


def test_the_widget_carries_the_poll_and_the_script_that_keeps_its_tallies_live(blog, reporter):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    widget = Client().get(f"/live/{blog.slug}/embed/")
    page = widget.content.decode()
    assert widget.status_code == 200
    assert f'action="/live/{blog.slug}/polls/{poll.pk}/vote"' in page  # votes from the widget, JS or not
    assert re.search(r'<script src="/static/live/polls\.[0-9a-f]+\.js" defer>', page)


def test_the_entry_html_carries_the_form_but_never_the_tallies(blog, reporter):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    before = Client().get(f"/live/{blog.slug}/entries/{entry.pk}/").content.decode()
    for i in range(3):
        _json_vote(Client(REMOTE_ADDR=f"10.1.0.{i}"), blog, poll, poll.options.first())
    services.polls_flush()
    caching.clear_read_cache()  # built afresh: the same bytes, votes or not
    after = Client().get(f"/live/{blog.slug}/entries/{entry.pk}/").content.decode()
    assert before.replace(" ", "") and _article(before, entry.pk) == _article(after, entry.pk)
    tallies = Client().get(f"/live/{blog.slug}/polls/{poll.pk}")
    assert tallies.json()["total"] == 3 and tallies["Cache-Control"] == "public, max-age=1"


def _article(html: str, entry_id: int) -> str:
    start = html.index(f'<article id="entry-{entry_id}"')
    return html[start:html.index("</article>", start)]


# --- poll.updated: live only, coalesced, opt-in webhooks, no cache invalidation ------------


def test_tallies_do_not_invalidate_the_blogs_page_and_feed_caches(blog, reporter, django_capture_on_commit_callbacks):
    entry = _poll_entry(blog, reporter, django_capture_on_commit_callbacks)
    poll = entry.poll
    page = Client().get(f"/live/{blog.slug}/")
    feed = Client().get(f"/live/{blog.slug}/feed.json")
    version = cache_versions.current_version(blog.slug)
    seq = blog.events.count()
    for i in range(5):
        _json_vote(Client(REMOTE_ADDR=f"10.2.0.{i}"), blog, poll, poll.options.first())
    with django_capture_on_commit_callbacks(execute=True):
        services.polls_flush()
    assert cache_versions.current_version(blog.slug) == version
    assert blog.events.count() == seq  # no event per vote, nor per flush
    again = Client().get(f"/live/{blog.slug}/", HTTP_IF_NONE_MATCH=page["ETag"])
    assert again.status_code == 304
    assert Client().get(f"/live/{blog.slug}/feed.json", HTTP_IF_NONE_MATCH=feed["ETag"]).status_code == 304


def test_poll_updated_is_coalesced_to_one_message_a_second_per_poll(blog, reporter, monkeypatch):
    entry = _poll_entry(blog, reporter)
    poll = entry.poll
    sent = []
    monkeypatch.setattr(channel, "publish_live", lambda slug, message: sent.append((time.monotonic(), message)))
    for i in range(4):
        services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=poll.options.first().pk, address=f"10.3.0.{i}")
        services.polls_flush()  # each flush hands the change over at once
    assert 1 <= len(sent) <= 4
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:], strict=False)]
    assert all(gap >= 0.99 for gap in gaps), gaps
    last = sent[-1][1]
    assert isinstance(live_message.validate_python(last), PollUpdated)
    assert "seq" not in last and last["poll"]["total"] == 4


def test_poll_updated_reaches_only_partners_who_subscribe_to_it(
    blog, editor, reporter, settings, django_capture_on_commit_callbacks
):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    everything, tallies = Recorder(), Recorder()
    try:
        services.webhook_partner_create(user=editor, url=everything.url)  # no types: every log event
        _partner, secret = services.webhook_partner_create(
            user=editor, url=tallies.url, event_types=["poll.updated"]
        )
        entry = _poll_entry(blog, reporter, django_capture_on_commit_callbacks)
        everything.wait_for(1)  # entry.published
        poll = entry.poll
        services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=poll.options.first().pk, address="10.4.0.1")
        services.polls_flush()
        [request] = tallies.wait_for(1)
        body = Webhook(secret).verify(request.body.decode(), request.headers)
        assert body["type"] == "poll.updated" and body["blog"] == blog.slug
        assert body["data"]["poll"]["total"] == 1 and "seq" not in body["data"]
        delivery = WebhookDelivery.objects.get(msg_id=request.headers["webhook-id"])
        assert delivery.event_id is None and delivery.status == "succeeded"
        time.sleep(0.3)
        assert [json.loads(r.body)["type"] for r in everything.requests] == ["entry.published"]
    finally:
        everything.close()
        tallies.close()


def test_partners_can_subscribe_to_poll_updated_through_the_api(api, settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    response = api.post("/api/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["poll.updated"]},
                        content_type="application/json")
    assert response.status_code == 201 and response.json()["event_types"] == ["poll.updated"]


# --- "N reading now" --------------------------------------------------------------------


def test_reader_count_goes_only_to_blogs_that_show_it_without_an_event(blog, editor, monkeypatch):
    sent = []
    monkeypatch.setattr(channel, "publish_live", lambda slug, message: sent.append((slug, message)))
    monkeypatch.setattr(channel, "reader_count", lambda slug: 7)
    assert counts.publish_reader_counts() == {}
    services.blog_update(blog=blog, user=editor, show_reader_count=True)
    seq = blog.events.count()
    assert counts.publish_reader_counts() == {blog.slug: 7}
    assert counts.publish_reader_counts() == {}  # unchanged: not sent again at once
    [(slug, message)] = sent
    assert slug == blog.slug and isinstance(live_message.validate_python(message), ReadersNow)
    assert blog.events.count() == seq


def test_the_live_page_shows_the_reader_count_slot_only_when_editors_chose_it(
    blog, editor, django_capture_on_commit_callbacks
):
    assert "data-readers-now" not in Client().get(f"/live/{blog.slug}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.blog_update(blog=blog, user=editor, show_reader_count=True)
    assert "data-readers-now" in Client().get(f"/live/{blog.slug}/").content.decode()


def test_desk_composes_a_poll_and_closes_it(client, blog, reporter):
    client.force_login(reporter)
    response = client.post(f"/desk/blogs/{blog.slug}/entries/", {
        "body": "Have your say.", "action": "publish", "poll_question": "Best moment?",
        "poll_options": "The opening\nThe rebuttal\n\nThe closing", "poll_closes_at": "",
    })
    assert response.status_code in (201, 302), response.content[:500]
    poll = Poll.objects.get()
    assert [o.label for o in poll.options.all()] == ["The opening", "The rebuttal", "The closing"]
    desk = client.get(f"/desk/blogs/{blog.slug}/").content.decode()
    assert "Poll: Best moment?" in desk and "Close poll" in desk
    client.post(f"/desk/blogs/{blog.slug}/entries/{poll.entry_id}/poll/close/")
    poll.refresh_from_db()
    assert poll.closed_at is not None
    bad = client.post(f"/desk/blogs/{blog.slug}/entries/", {
        "body": "x", "action": "publish", "poll_question": "One?", "poll_options": "Only",
    })
    assert bad.status_code == 422 and "2 to 6 options" in bad.content.decode()
