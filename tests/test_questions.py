"""Reader questions (docs/questions.md): asked from the live page without a
log-in, throttled, honeypotted and length-limited; queued for the desk,
answered in an entry that quotes them, or dismissed; never on any public
surface (page, feed, API, updates, webhook, log) until answered; deleted
after their keep once handled."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from posts.domain import retention, selectors, services
from posts.domain.errors import Conflict, ErrorCode, Invalid, NotAllowed, TooLarge
from posts.domain.models import Entry, Event, Question

from .factories import make_blog

SECRET = "Is the mayor resigning tonight"  # stands out on any surface it leaks to


@pytest.fixture(autouse=True)
def _fresh_question_rates():
    """The per-address counters live in the cache (Redis in the PostgreSQL
    pass), which outlives a test: start each test with none."""
    from django.core.cache import cache

    from posts.web.questions import rate_key

    cache.delete_many([rate_key(a) for a in ("127.0.0.1", "198.51.100.7")])
    yield


@pytest.fixture
def open_blog(editor):
    return make_blog(editor=editor, title="Budget night", questions_enabled=True)


def _ask(client: Client, blog, *, json_body: bool = False, **fields):
    if json_body:
        return client.post(f"/live/{blog.slug}/questions", json.dumps(fields), content_type="application/json")
    return client.post(f"/live/{blog.slug}/questions", fields)


# --- Services ----------------------------------------------------------------


def test_a_question_is_queued_cleaned_and_writes_no_event(open_blog):
    before = open_blog.last_seq
    question = services.question_ask(blog=open_blog, body="  Why\x07 now?  ", name="  Ana \n Lee ")
    assert (question.body, question.name, question.status) == ("Why now?", "Ana Lee", "pending")
    open_blog.refresh_from_db()
    assert open_blog.last_seq == before, "asking is not a change readers see"
    assert selectors.pending_questions(blog=open_blog) == [question]


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"body": "   "}, Invalid, "body"),
        ({"body": "x" * 1001}, TooLarge, "body"),
        ({"body": "ok", "name": "n" * 81}, Invalid, "name"),
        ({"body": "a\x00b"}, Invalid, "body"),
    ],
)
def test_bad_questions_are_refused_naming_the_field(open_blog, fields, error, field):
    with pytest.raises(error) as refused:
        services.question_ask(blog=open_blog, **fields)
    assert refused.value.field == field
    assert not Question.objects.exists()


def test_a_blog_not_taking_questions_refuses_them(blog, open_blog, editor):
    with pytest.raises(Conflict) as refused:
        services.question_ask(blog=blog, body="Hello?")
    assert refused.value.code == ErrorCode.QUESTIONS_CLOSED
    services.blog_update(blog=open_blog, user=editor, questions_enabled=False)
    with pytest.raises(Conflict):
        services.question_ask(blog=open_blog, body="Hello?")


def test_answering_publishes_an_entry_quoting_the_reader_by_name_or_as_a_reader(open_blog, reporter):
    named = services.question_ask(blog=open_blog, body="When do polls close?", name="Ana")
    anonymous = services.question_ask(blog=open_blog, body="Any *turnout* <b>figures</b>?")
    entry = services.question_answer(question=named, user=reporter, body="At 10 pm.")
    other = services.question_answer(question=anonymous, user=reporter, body="Not yet.", key_event=True)
    assert entry.status == Entry.Status.PUBLISHED
    assert "Ana asks:" in entry.body_text and "When do polls close?" in entry.body_text
    assert entry.body_text.rstrip().endswith("At 10 pm.")
    assert "<blockquote>" in entry.body_html
    # The reader's Markdown and HTML are quoted as typed, never rendered.
    assert "A reader asks:" in other.body_text
    assert "Any *turnout* <b>figures</b>?" in other.body_text
    assert "<em>" not in other.body_html and "<b>" not in other.body_html
    assert other.key_event
    named.refresh_from_db()
    assert (named.status, named.answer_id, named.handled_by) == ("answered", entry.pk, reporter)
    assert Event.objects.filter(blog=open_blog, type="entry.published").count() == 2
    assert selectors.pending_questions(blog=open_blog) == []


def test_a_question_is_answered_or_dismissed_once(open_blog, reporter, editor):
    question = services.question_ask(blog=open_blog, body="Who won?")
    services.question_dismiss(question=question, user=editor)
    with pytest.raises(Conflict) as refused:
        services.question_answer(question=question, user=reporter, body="Nobody yet.")
    assert refused.value.code == ErrorCode.QUESTION_HANDLED
    assert not Entry.objects.filter(blog=open_blog, body__contains="Nobody").exists()


def test_contributors_cannot_answer_or_dismiss(open_blog, contributor):
    question = services.question_ask(blog=open_blog, body="Who won?")
    with pytest.raises(NotAllowed):
        services.question_answer(question=question, user=contributor, body="Me.")
    with pytest.raises(NotAllowed):
        services.question_dismiss(question=question, user=contributor)
    question.refresh_from_db()
    assert question.status == "pending"


def test_an_empty_answer_keeps_the_question_waiting(open_blog, reporter):
    question = services.question_ask(blog=open_blog, body="Who won?")
    with pytest.raises(Invalid):
        services.question_answer(question=question, user=reporter, body="  ")
    question.refresh_from_db()
    assert question.status == "pending" and not Entry.objects.filter(blog=open_blog).exists()


# --- The reader's endpoint ---------------------------------------------------------


def test_a_form_post_gets_a_thank_you_page_and_json_gets_202(client, open_blog):
    page = _ask(client, open_blog, body="Form question?", name="Bo")
    assert page.status_code == 202
    assert "Thank you" in page.content.decode() and page["Cache-Control"] == "private, no-store"
    reply = _ask(client, open_blog, json_body=True, body="JSON question?")
    assert reply.status_code == 202 and "Thank you" in reply.json()["detail"]
    assert sorted(Question.objects.values_list("body", flat=True)) == ["Form question?", "JSON question?"]


def test_the_form_needs_no_csrf_token(open_blog):
    strict = Client(enforce_csrf_checks=True)
    assert _ask(strict, open_blog, body="No token?").status_code == 202


def test_a_post_from_another_sites_page_is_refused(client, open_blog, settings):
    other = client.post(f"/live/{open_blog.slug}/questions", {"body": "Cross-site?"}, HTTP_ORIGIN="https://evil.example")
    assert other.status_code == 403
    same = client.post(f"/live/{open_blog.slug}/questions", {"body": "Same site?"}, HTTP_ORIGIN="http://testserver")
    assert same.status_code == 202
    assert list(Question.objects.values_list("body", flat=True)) == ["Same site?"]


def test_a_filled_honeypot_looks_accepted_and_stores_nothing(client, open_blog):
    response = _ask(client, open_blog, body="Buy pills", website="http://spam.example")
    assert response.status_code == 202
    assert not Question.objects.exists()


def test_each_address_is_limited_and_told_when_to_come_back(client, open_blog, settings):
    settings.LIVEBLOG_QUESTIONS_PER_ADDRESS = 3
    codes = [_ask(client, open_blog, json_body=True, body=f"Q{i}").status_code for i in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    refused = _ask(client, open_blog, json_body=True, body="Again")
    assert refused.json()["code"] == "rate_limited" and int(refused["Retry-After"]) > 0
    elsewhere = client.post(f"/live/{open_blog.slug}/questions", {"body": "Other reader"}, REMOTE_ADDR="198.51.100.7")
    assert elsewhere.status_code == 202
    assert Question.objects.count() == 4


def test_bad_input_gets_a_clear_4xx_naming_the_field(client, open_blog, blog):
    too_long = _ask(client, open_blog, json_body=True, body="x" * 5000)
    assert too_long.status_code == 413 and too_long.json()["field"] == "body"
    empty = _ask(client, open_blog, body="")
    assert empty.status_code == 422 and "Write your question" in empty.content.decode()
    not_json = client.post(f"/live/{open_blog.slug}/questions", b"{nope", content_type="application/json")
    assert not_json.status_code == 400
    closed = _ask(client, blog, json_body=True, body="Anyone?")
    assert closed.status_code == 409 and closed.json()["code"] == "questions_closed"
    assert client.post("/live/no-such-blog/questions", {"body": "?"}).status_code == 404
    assert client.get(f"/live/{open_blog.slug}/questions").status_code == 405
    assert not Question.objects.exists()


def test_the_live_page_offers_the_form_only_where_questions_are_on(client, open_blog, blog):
    page = client.get(f"/live/{open_blog.slug}/").content.decode()
    assert 'data-question-form' in page and f'action="/live/{open_blog.slug}/questions"' in page
    assert 'name="website"' in page  # the honeypot
    assert "data-question-form" not in client.get(f"/live/{blog.slug}/").content.decode()


# --- Never public until answered -----------------------------------------------------


def _public_surfaces(client: Client, blog) -> str:
    slug = blog.slug
    paths = [
        "/", f"/live/{slug}/", f"/live/{slug}/?order=oldest", f"/live/{slug}/feed.rss", f"/live/{slug}/feed.atom",
        f"/live/{slug}/feed.json", "/api/blogs", f"/api/blogs/{slug}", f"/api/blogs/{slug}/entries",
        f"/api/blogs/{slug}/entries?order=oldest", f"/api/blogs/{slug}/updates?since=0",
    ]
    seen = []
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        seen.append(response.content.decode())
    return "\n".join(seen)


def test_a_pending_or_dismissed_question_is_on_no_public_surface_nor_in_any_log(
    client, open_blog, reporter, caplog, settings, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    _ask(client, open_blog, json_body=True, body=SECRET, name="Whistle")
    # Refused ones too: a 4xx is logged (django.request), its body never.
    client.post(f"/live/{open_blog.slug}/questions", {"body": SECRET}, HTTP_ORIGIN="https://evil.example")
    _ask(client, open_blog, json_body=True, body=SECRET + "\x00")
    dismissed = services.question_ask(blog=open_blog, body=SECRET + " (again)")
    services.question_dismiss(question=dismissed, user=reporter)
    surfaces = _public_surfaces(client, open_blog)
    assert SECRET not in surfaces and "Whistle" not in surfaces
    assert not any(SECRET in json.dumps(e.payload) for e in Event.objects.all())
    assert caplog.records, "something was logged, so the check means something"
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in str(record.__dict__)

    pending = Question.objects.get(status="pending")
    with django_capture_on_commit_callbacks(execute=True):  # the fan-out moves the cached pages on
        services.question_answer(question=pending, user=reporter, body="Not tonight.")
    surfaces = _public_surfaces(client, open_blog)
    assert SECRET in surfaces and "Whistle asks:" in surfaces
    assert SECRET + " (again)" not in surfaces


def test_webhooks_carry_the_answer_only(transactional_db, open_blog, reporter, editor, settings):
    from .fanout_support import Recorder

    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    partner = Recorder()
    try:
        services.webhook_partner_create(user=editor, url=f"{partner.url}/hook")
        question = services.question_ask(blog=open_blog, body=SECRET)
        services.question_dismiss(question=services.question_ask(blog=open_blog, body="Dismissed one"), user=reporter)
        services.question_answer(question=question, user=reporter, body="Here is the answer.")
        bodies = [json.loads(r.body) for r in partner.wait_for(1)]
    finally:
        partner.close()
    assert [b["type"] for b in bodies] == ["entry.published"]
    assert SECRET in bodies[0]["data"]["entry"]["body"]
    assert "Dismissed one" not in json.dumps(bodies)


# --- The desk ------------------------------------------------------------------------


def _desk(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_desk_lists_waiting_questions_and_its_state_poll_brings_new_ones(open_blog, editor, contributor):
    from posts.domain.models import Role

    services.team_set_member(blog=open_blog, user=editor, member=contributor, role=Role.CONTRIBUTOR)
    services.question_ask(blog=open_blog, body="First?", name="Ana")
    desk = _desk(editor)
    page = desk.get(f"/desk/blogs/{open_blog.slug}/").content.decode()
    assert "Reader questions" in page and "First?" in page and "Ana" in page
    since = desk.get(f"/desk/blogs/{open_blog.slug}/state/?since=0").json()["now"]
    Question.objects.update(created_at=timezone.now() - timedelta(seconds=5))  # asked before that poll
    services.question_ask(blog=open_blog, body="Second?")
    state = desk.get(f"/desk/blogs/{open_blog.slug}/state/?since={since}").json()
    assert [sorted(q) for q in state["questions"]] == [["id"], ["html", "id"]], "a card only for the new one"
    assert "Second?" in state["questions"][1]["html"] and "A reader" in state["questions"][1]["html"]
    everything = desk.get(f"/desk/blogs/{open_blog.slug}/state/?since=0").json()["questions"]
    assert ["First?" in everything[0]["html"], "Second?" in everything[1]["html"]] == [True, True]
    assert _desk(contributor).get(f"/desk/blogs/{open_blog.slug}/state/?since=0").json()["questions"] is None
    assert "First?" not in _desk(contributor).get(f"/desk/blogs/{open_blog.slug}/").content.decode()


def test_the_desk_answers_and_dismisses_with_plain_forms(open_blog, reporter, editor):
    services.team_set_member(blog=open_blog, user=editor, member=reporter, role="reporter")
    first = services.question_ask(blog=open_blog, body="Turnout?", name="Ana")
    second = services.question_ask(blog=open_blog, body="Spam?")
    desk = _desk(reporter)
    url = f"/desk/blogs/{open_blog.slug}/questions"
    empty = desk.post(f"{url}/{first.pk}/answer/", {f"q{first.pk}-answer": " "})
    assert empty.status_code == 422 and "Turnout?" in empty.content.decode()
    answered = desk.post(f"{url}/{first.pk}/answer/", {f"q{first.pk}-answer": "About 61%."})
    assert answered.status_code == 302
    entry = Entry.objects.get(blog=open_blog)
    assert "Ana asks:" in entry.body_text and "About 61%." in entry.body_text
    assert desk.post(f"{url}/{second.pk}/dismiss/").status_code == 302
    again = desk.post(f"{url}/{second.pk}/dismiss/")
    assert again.status_code == 409
    assert set(Question.objects.values_list("status", flat=True)) == {"answered", "dismissed"}


def test_editors_turn_questions_on_and_off_from_the_desk(blog, editor, reporter):
    desk = _desk(editor)
    assert desk.post(f"/desk/blogs/{blog.slug}/settings/", {"questions_enabled": "on"}).status_code == 302
    blog.refresh_from_db()
    assert blog.questions_enabled
    desk.post(f"/desk/blogs/{blog.slug}/settings/", {})
    blog.refresh_from_db()
    assert not blog.questions_enabled
    assert _desk(reporter).post(f"/desk/blogs/{blog.slug}/settings/", {"questions_enabled": "on"}).status_code == 403


def test_the_api_turns_questions_on_and_shows_it(client, blog, editor):
    _, key = services.token_create(user=editor)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    patched = api.patch(f"/api/blogs/{blog.slug}", {"questions_enabled": True}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["questions_enabled"] is True
    assert client.get(f"/api/blogs/{blog.slug}").json()["questions_enabled"] is True


# --- Retention ---------------------------------------------------------------------------


def test_handled_questions_are_deleted_after_their_keep_and_pending_ones_wait(open_blog, reporter, settings):
    settings.LIVEBLOG_RETAIN_QUESTIONS_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    answered = services.question_ask(blog=open_blog, body="Old answered")
    entry = services.question_answer(question=answered, user=reporter, body="Yes.")
    dismissed = services.question_ask(blog=open_blog, body="Old dismissed")
    services.question_dismiss(question=dismissed, user=reporter)
    recent = services.question_ask(blog=open_blog, body="Recent dismissed")
    services.question_dismiss(question=recent, user=reporter)
    waiting = services.question_ask(blog=open_blog, body="Still waiting")
    Question.objects.filter(pk__in=[answered.pk, dismissed.pk]).update(handled_at=old)
    Question.objects.filter(pk=waiting.pk).update(created_at=old)
    report = retention.run()
    assert report["questions_handled"] == 2
    assert set(Question.objects.values_list("body", flat=True)) == {"Recent dismissed", "Still waiting"}
    assert Entry.objects.filter(pk=entry.pk, status="published").exists(), "the answer stays published"


def test_a_legal_erase_of_an_answer_erases_the_question_it_quoted(open_blog, reporter, editor):
    question = services.question_ask(blog=open_blog, body=SECRET, name="Whistle")
    entry = services.question_answer(question=question, user=reporter, body="No.")
    services.entry_erase(entry=entry, user=editor, reason="Court order 12/2026")
    question.refresh_from_db()
    assert (question.name, question.body, question.status) == ("", "", "answered")
    assert not Question.objects.filter(body__contains=SECRET).exists()
