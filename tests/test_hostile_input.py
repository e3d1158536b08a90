"""Hostile text: whatever Unicode arrives in any text field, the write is
stored cleaned or refused with a 422 naming the field, and nothing stored
breaks the page, permalink, API, feeds or SSE replay (no 5xx), on either
database. NUL in a URL is a 404 (JSON under /api/), never a 500."""

from __future__ import annotations

import json
import threading

import feedparser
import pytest
from django.apps import apps
from django.db import connection, models
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from posts.domain import services
from posts.domain.errors import Invalid
from posts.domain.models import (
    Author,
    Blog,
    Entry,
    Erasure,
    Event,
    Media,
    Poll,
    PollOption,
    Question,
    WebhookPartner,
)
from posts.domain.text import clean_text, scrub
from tests.factories import make_blog, make_entry
from tests.photos import photo_bytes, upload

# Any code point, unpaired surrogates and NUL included (hypothesis leaves
# surrogates out unless asked).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
HOSTILE = st.one_of(
    ANY_TEXT,
    st.sampled_from(["\x00", "\ud800", "a\udfffb", "\x01\x1b[31m", "\x85\u2028\ufffe\U0010ffff", "\t\r\n", "]]>"]),
)

PHOTO = photo_bytes(size=(64, 48))

# Every text field a person can write, and where the test writes it. A text
# field added to a model fails test_every_text_field_is_in_the_hostile_input_test
# until it is written here (and so fuzzed).
WRITTEN = {
    ("Blog", "title"), ("Blog", "standfirst"),
    ("Entry", "headline"), ("Entry", "body"),
    ("EntryRevision", "headline"), ("EntryRevision", "body"),  # copies of the entry's
    ("Author", "display_name"),
    ("WebhookPartner", "name"),
    ("ApiToken", "name"),
    ("Erasure", "reason"),
    ("Entry", "claim"), ("Entry", "claimant"),  # a fact check
    ("Entry", "review_note"),  # an editor's note sending a draft back
    ("Question", "name"), ("Question", "body"),  # a reader's question (no log-in)
    ("Media", "alt"), ("Media", "caption"), ("Media", "credit"),  # a photo's words
    ("Poll", "question"), ("PollOption", "label"),  # a reader poll
}
NOT_FREE_TEXT = {
    ("Blog", "slug"), ("Blog", "status"), ("Membership", "role"), ("Author", "role"),
    ("Entry", "kind"), ("Entry", "status"), ("EntryRevision", "kind"), ("EntryRevision", "status"),
    ("Event", "type"), ("ApiToken", "prefix"), ("ApiToken", "key_hash"),
    ("WebhookPartner", "url"), ("WebhookPartner", "secret"), ("WebhookPartner", "pause_reason"),
    ("WebhookDelivery", "msg_id"), ("WebhookDelivery", "status"), ("WebhookDelivery", "last_error"),
    ("WebhookAttempt", "error"), ("PushSubscription", "endpoint"), ("PushSubscription", "p256dh"),
    ("PushSubscription", "auth"), ("Question", "status"),
    ("Erasure", "blog_slug"), ("Erasure", "erased_by_name"),  # copied from the blog and the user
    # Checked forms, not free text: a URL, a label of the configured scale, a
    # language tag, an admin-only URL; idempotency keys are never shown.
    ("Entry", "claim_url"), ("Entry", "verdict"), ("Blog", "language"), ("Author", "url"),
    ("IdempotencyKey", "scope"), ("IdempotencyKey", "key"), ("IdempotencyKey", "fingerprint"),
    # Captured from an embed provider (docs/embeds.md), never typed here: each
    # passes clean_text in entry_embeds_capture (tests/test_embeds.py).
    ("EmbedPreview", "url"), ("EmbedPreview", "provider"), ("EmbedPreview", "title"),
    ("EmbedPreview", "text"), ("EmbedPreview", "author_name"), ("EmbedPreview", "frame_src"),
    # Made from the fields above at save (rendered HTML, plain text).
    ("Blog", "standfirst_html"), ("Entry", "body_html"), ("Entry", "body_text"),
    ("Media", "content_type"),  # set from the decoded image, one of four types
}


def test_every_text_field_is_in_the_hostile_input_test():
    found = {
        (model.__name__, field.name)
        for model in apps.get_app_config("posts").get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.CharField | models.TextField)
    }
    assert found - NOT_FREE_TEXT == WRITTEN


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("a\x01b\x08c\x0b\x0c\x0e\x1f\x7fd", "abcd"),
        ("keep\ttab\nnewline\r\ncr", "keep\ttab\nnewline\r\ncr"),
        ("c1\x80\x85\x9fgone", "c1gone"),
        ("non\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0010ffffchars", "nonchars"),
        ("émoji 🗳️ and ‮ bidi stay", "émoji 🗳️ and ‮ bidi stay"),
    ],
)
def test_controls_and_noncharacters_are_stripped(raw, cleaned):
    assert clean_text(raw, field="body") == cleaned


@pytest.mark.parametrize("raw", ["\x00", "a\x00b", "\ud800", "x\udc00", "\udfff\ud800"])
def test_nul_and_unpaired_surrogates_are_refused_naming_the_field(raw):
    with pytest.raises(Invalid) as refused:
        clean_text(raw, field="headline")
    assert refused.value.field == "headline" and refused.value.status_code == 422


@pytest.fixture
def api(editor):
    _, key = services.token_create(user=editor)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def _send(api, method: str, path: str, payload: dict):
    # ensure_ascii: a lone surrogate travels as "\ud800", as an attacker sends it.
    return getattr(api, method)(path, json.dumps(payload), content_type="application/json")


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("post", "/api/blogs", {"title": "T\ud800"}, "title"),
        ("post", "/api/blogs", {"title": "T", "standfirst": "a\x00"}, "standfirst"),
        ("post", "/api/blogs/{slug}/entries", {"body": "x\ud83d"}, "body"),
        ("post", "/api/blogs/{slug}/entries", {"body": "x", "headline": "\x00"}, "headline"),
        ("patch", "/api/blogs/{slug}", {"title": "\udc00"}, "title"),
        ("post", "/api/blogs/{slug}/close", {"body": "bye\x00"}, "body"),
        ("post", "/api/webhooks", {"url": "https://93.184.216.34/", "name": "\ud800"}, "name"),
    ],
)
def test_the_api_refuses_nul_and_lone_surrogates_with_a_json_422_naming_the_field(
    api, blog, method, path, payload, field
):
    response = _send(api, method, path.format(slug=blog.slug), payload)
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    "path",
    ["/api/blogs/a%00b", "/api/blogs/%00", "/api/blogs/x/entries/1%00", "/api/webhooks/%00"],
)
def test_nul_in_an_api_path_is_a_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/live/a%00b/", "/live/a%00b/feed.rss", "/live/a%00b/events", "/desk/blogs/a%00b/", "/%00"]
)
def test_nul_in_any_other_path_is_a_404(client, path):
    assert client.get(path).status_code == 404


def test_nul_in_a_query_string_is_a_400(client, blog):
    assert client.get(f"/api/blogs/{blog.slug}/entries?before=%00").status_code == 400
    assert client.get(f"/live/{blog.slug}/?before=1%00").status_code == 400


def _sse_replay(client: Client, slug: str) -> tuple[int, str]:
    """The SSE view is async: the test client consumes its stream through
    async_to_sync, which cannot run on a thread that has an event loop
    (Playwright's sync API leaves one on the main thread), so read it from
    a thread of its own."""
    box: dict = {}

    def read() -> None:
        try:
            response = client.get(f"/live/{slug}/events?last_event_id=0")
            box["result"] = (response.status_code, b"".join(response).decode())
        finally:
            connection.close()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(timeout=30)
    return box["result"]


def _read_everything(client: Client, blog: Blog, entry_ids: list[int]) -> None:
    slug = blog.slug
    paths = [
        "/", f"/live/{slug}/", *(f"/live/{slug}/entries/{i}/" for i in entry_ids), f"/live/{slug}/embed/",
        *(f"/oembed?url=http://testserver/live/{slug}/entries/{i}/" for i in entry_ids),
        "/api/blogs", f"/api/blogs/{slug}", f"/api/blogs/{slug}/entries", f"/api/blogs/{slug}/updates?since=0",
        *(f"/api/blogs/{slug}/entries/{i}" for i in entry_ids),
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        if path.startswith("/api/"):
            json.loads(response.content)
    for kind in ("rss", "atom"):
        response = client.get(f"/live/{slug}/feed.{kind}")
        assert response.status_code == 200, (kind, response.content[:300])
        parsed = feedparser.parse(response.content)
        assert parsed.bozo == 0, (kind, parsed.bozo_exception)
    response = client.get(f"/live/{slug}/feed.json")
    assert response.status_code == 200
    json.loads(response.content)
    # The blog is closed: SSE replays the whole log from 0 and ends.
    status, frames = _sse_replay(client, slug)
    assert status == 200
    # SSE lines end at CR or LF only (U+2028 and friends stay inside the JSON).
    data = [json.loads(line[6:]) for line in frames.split("\n") if line.startswith("data: ")]
    assert [m["seq"] for m in data] == list(range(1, blog.last_seq + 1))


@given(
    title=HOSTILE, standfirst=HOSTILE, headline=HOSTILE, body=HOSTILE, edit=HOSTILE,
    note=HOSTILE, partner=HOSTILE, display=HOSTILE, reason=HOSTILE, claim=HOSTILE, review=HOSTILE,
    asker=HOSTILE, question=HOSTILE, alt=HOSTILE, caption=HOSTILE, credit=HOSTILE, poll=HOSTILE,
)
def test_any_unicode_in_every_text_field_never_breaks_a_surface(
    transactional_db, client, editor, settings, title, standfirst, headline, body, edit, note, partner, display, reason,
    claim, review, asker, question, alt, caption, credit, poll,
):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False
    settings.LIVEBLOG_QUESTIONS_PER_ADDRESS = 10**9  # every example comes from one address
    _, key = services.token_create(user=editor)
    statuses = []

    def write(method, path, payload):
        # One client for the whole test: each new one loads the middleware again.
        response = getattr(client, method)(
            path, json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        assert response.status_code < 500, (path, payload, response.content[:300])
        assert response["Content-Type"].startswith("application/json"), response.content[:300]
        if response.status_code == 422:
            assert response.json().get("field"), response.content
        statuses.append(response.status_code)
        return response

    created = write("post", "/api/blogs", {"title": title or "t", "standfirst": standfirst, "status": "live"})
    blog = Blog.objects.get(slug=created.json()["slug"]) if created.status_code == 201 else make_blog(editor=editor)
    write("patch", f"/api/blogs/{blog.slug}", {"title": title or "t", "standfirst": standfirst})
    write("patch", f"/api/blogs/{blog.slug}", {"questions_enabled": True})
    asked = client.post(f"/live/{blog.slug}/questions", json.dumps({"name": asker, "body": question or "q"}),
                        content_type="application/json")
    assert asked.status_code in {202, 413, 422}, asked.content[:300]
    if asked.status_code == 422:
        assert asked.json()["field"] in {"name", "body"}, asked.content
    try:
        services.author_ensure(username=editor.username, display_name=display)
        Author.objects.filter(user=editor).update(display_name=clean_text(display, field="display_name").strip())
    except Invalid as refused:
        assert refused.field == "display_name"
    made = write("post", "/api/webhooks", {"url": "https://93.184.216.34/hook", "name": partner})
    if made.status_code == 201:  # paused: this test sends nothing out
        WebhookPartner.objects.filter(pk=made.json()["id"]).update(active=False)
    # A photo's words travel as multipart form fields (a lone surrogate as
    # the bytes an attacker would send; the server reads them as U+FFFD).
    photo = client.post("/api/media", {
        "file": upload(PHOTO), "blog": blog.slug,
        **{name: value.encode("utf-8", "surrogatepass") for name, value in
           (("alt", alt or "a"), ("caption", caption), ("credit", credit))},
    }, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert photo.status_code in (201, 422), photo.content[:300]
    if photo.status_code == 422:
        assert photo.json()["field"] in {"alt", "caption", "credit"}
    image = photo.json()["id"] if photo.status_code == 201 else None
    first = write("post", f"/api/blogs/{blog.slug}/entries",
                  {"body": body or "b", "headline": headline, "key_event": True, "image": image})
    ids = [first.json()["id"]] if first.status_code == 201 else [make_entry(blog=blog, user=editor).pk]
    checked = write("post", f"/api/blogs/{blog.slug}/entries", {
        "body": body or "b", "fact_check": {"claim": claim or "c", "claimant": claim or "c", "verdict": "False"},
        "image": image,  # so the photo is still on the surfaces after the first entry's erase
    })
    if checked.status_code == 201:
        ids.append(checked.json()["id"])
    polled = write("post", f"/api/blogs/{blog.slug}/entries", {
        "body": body or "b", "poll": {"question": poll or "q", "options": [poll or "a", "other"]},
    })
    if polled.status_code == 201:
        ids.append(polled.json()["id"])
        poll_id = polled.json()["poll"]["id"]
        for path in (f"/live/{blog.slug}/polls/{poll_id}", f"/live/{blog.slug}/polls/{poll_id}/result"):
            assert client.get(path).status_code == 200, path
    draft = make_entry(blog=blog, user=editor, status="draft")
    Entry.objects.filter(pk=draft.pk).update(awaiting_approval=True)
    try:
        services.entry_return(entry=draft, user=editor, note=review or "n")
    except Invalid as refused:
        assert refused.field == "note"
    for pending in Question.objects.filter(blog=blog):
        ids.append(services.question_answer(question=pending, user=editor, body="An answer.").pk)
    entry = Entry.objects.get(pk=ids[0])
    write("patch", f"/api/blogs/{blog.slug}/entries/{entry.pk}", {"version": entry.version, "body": edit or "e", "headline": edit})
    closed = write("post", f"/api/blogs/{blog.slug}/close", {"body": note or "n", "headline": note})
    if closed.status_code != 200:
        services.blog_close(blog=blog, user=editor, body="Closing.")
    write("post", f"/api/blogs/{blog.slug}/entries/{ids[0]}/erase", {"reason": reason})
    blog.refresh_from_db()
    ids += list(blog.entries.exclude(pk__in=ids).values_list("pk", flat=True))

    # What was stored is clean: nothing a feed, a page or PostgreSQL cannot hold.
    for text in [blog.title, blog.standfirst,
                 *Entry.objects.filter(blog=blog).values_list("headline", "body", "claim", "claimant", "review_note"),
                 *WebhookPartner.objects.values_list("name", flat=True), *Author.objects.values_list("display_name", flat=True),
                 *Erasure.objects.values_list("reason", flat=True),
                 *Question.objects.values_list("name", "body"),
                 *Media.objects.values_list("alt", "caption", "credit"),
                 *Poll.objects.values_list("question", flat=True), *PollOption.objects.values_list("label", flat=True)]:
        for value in (text if isinstance(text, tuple) else (text,)):
            assert scrub(value) == value
    for event in Event.objects.filter(blog=blog):
        assert json.dumps(event.payload, ensure_ascii=False).encode("utf-8")
    _read_everything(client, blog, ids)
    WebhookPartner.objects.all().delete()


def test_the_migration_cleans_rows_stored_before_the_rule(blog, reporter, client):
    from importlib import import_module

    from django.apps import apps as global_apps

    entry = make_entry(blog=blog, user=reporter, body="clean")
    Entry.objects.filter(pk=entry.pk).update(
        headline="bad\x01headline", body="one \x01 body\ufffe", body_html="<p>one \x01 body</p>", body_text="one \x01"
    )
    Blog.objects.filter(pk=blog.pk).update(title="Election\x0b night")
    event = Event.objects.get(blog=blog, type="entry.published")
    Event.objects.filter(pk=event.pk).update(payload={"entry": {"id": entry.pk, "body": "x\x1by", "headline": "\x7f"}})

    migration = import_module("posts.migrations.0010_clean_stored_text")
    migration.clean(global_apps, None)

    entry.refresh_from_db()
    blog.refresh_from_db()
    assert (entry.headline, entry.body, entry.body_html, entry.body_text) == ("badheadline", "one  body", "<p>one  body</p>", "one ")
    assert blog.title == "Election night"
    assert Event.objects.get(pk=event.pk).payload == {"entry": {"id": entry.pk, "body": "xy", "headline": ""}}
