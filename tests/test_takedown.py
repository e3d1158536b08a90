"""Deletion is a takedown: after delete the entry's text is on no public
surface; earlier events become tombstones; the deletion event carries ids
only. A legal erase removes the text from everything stored and leaves an
audit record."""

from __future__ import annotations

import json
import pickle
import time
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from posts.delivery import push, tasks
from posts.domain import services
from posts.domain.models import EntryRevision, Erasure, Event, WebhookAttempt, WebhookDelivery
from posts.web.caching import clear_read_cache
from tests.factories import make_entry

from .fanout_support import Recorder, SSEClient

SECRET = "Zq7-leaked-witness-name"


def tombstone(entry_id: int) -> dict:
    return {"id": entry_id, "deleted": True}


def _story(blog, reporter, editor):
    """A pinned key event, edited, then quoted by a blog.updated event."""
    entry = make_entry(blog=blog, user=reporter, headline=f"Witness {SECRET}", body=f"Named as {SECRET}.",
                       key_event=True, pinned=True)
    entry = services.entry_edit(entry=entry, user=reporter, version=entry.version, body=f"Still {SECRET}.")
    services.blog_update(blog=blog, user=editor, title="Election night, updated")
    other = make_entry(blog=blog, user=reporter, body="An unrelated update stays.")
    return entry, other


def _stored_responses() -> list[bytes]:
    """Every cached response body the read cache holds."""
    backend = getattr(cache, "_cache", None)
    client_factory = getattr(backend, "get_client", None)
    if client_factory is None:  # local memory: pickled values
        return [value for key, value in backend.items() if ":resp:" in key]
    client = client_factory()
    keys = list(client.scan_iter(match=cache.make_and_validate_key("resp:*")))
    return [client.get(k) or b"" for k in keys]


PUBLIC = [
    "/", "/live/{slug}/", "/live/{slug}/feed.rss", "/live/{slug}/feed.atom", "/live/{slug}/feed.json",
    "/live/{slug}/embed/", "/api/blogs", "/api/blogs/{slug}", "/api/blogs/{slug}/entries?limit=100", "/api/blogs/{slug}/updates?since=0",
]


def test_after_delete_the_text_is_on_no_public_surface_and_no_cache(
    client, blog, reporter, editor, django_capture_on_commit_callbacks
):
    clear_read_cache()
    with django_capture_on_commit_callbacks(execute=True):
        entry, other = _story(blog, reporter, editor)
    for path in PUBLIC:  # read (and so cache) everything while it is up
        assert SECRET in client.get(path.format(slug=blog.slug)).content.decode() or path in {"/", "/api/blogs"}
    client.get(f"/live/{blog.slug}/entries/{entry.pk}/")
    assert any(SECRET.encode() in value for value in _stored_responses())

    with django_capture_on_commit_callbacks(execute=True):
        services.entry_delete(entry=entry, user=reporter)

    assert not any(SECRET.encode() in value for value in _stored_responses()), "a cached copy outlived the takedown"
    for path in PUBLIC:
        response = client.get(path.format(slug=blog.slug))
        assert response.status_code == 200, path
        assert SECRET not in response.content.decode(), path
        assert f"entry-{entry.pk}\"" not in response.content.decode(), path
    page = client.get(f"/live/{blog.slug}/").content.decode()
    assert "An unrelated update stays." in page and "application/ld+json" in page
    assert client.get(f"/live/{blog.slug}/entries/{entry.pk}/").status_code == 410
    assert client.get(f"/live/{blog.slug}/embed/?entry={entry.pk}").status_code == 410
    assert client.get(f"/oembed?url=http://testserver/live/{blog.slug}/entries/{entry.pk}/").status_code == 410
    gone = client.get(f"/api/blogs/{blog.slug}/entries/{entry.pk}")
    assert gone.status_code == 410 and gone.json()["detail"]
    assert client.get(f"/live/{blog.slug}/entries/{other.pk}/").status_code == 200


def test_earlier_events_are_tombstones_and_the_deletion_carries_ids_only(client, blog, reporter, editor):
    entry, other = _story(blog, reporter, editor)
    services.entry_delete(entry=entry, user=reporter)

    events = client.get(f"/api/blogs/{blog.slug}/updates?since=0").json()["events"]
    by_type = [(m["type"], m.get("entry")) for m in events if m["type"].startswith("entry.")]
    assert by_type == [
        ("entry.published", tombstone(entry.pk)),  # in place of the entry
        ("entry.updated", tombstone(entry.pk)),
        ("entry.published", by_type[2][1]),
        ("entry.deleted", tombstone(entry.pk)),
    ]
    assert by_type[2][1]["id"] == other.pk and by_type[2][1]["body"] == "An unrelated update stays."
    assert events[-1] == {"seq": events[-1]["seq"], "type": "entry.deleted", "entry": tombstone(entry.pk)}
    for message in events:
        if message["type"] == "blog.updated":
            assert message["blog"]["pinned"] is None
            assert entry.pk not in [k["id"] for k in message["blog"]["key_events"]]
    assert SECRET not in json.dumps(events)


def test_sse_replay_serves_tombstones(live_url, blog, reporter, editor):
    entry, _ = _story(blog, reporter, editor)
    services.entry_delete(entry=entry, user=reporter)
    blog.refresh_from_db()
    sse = SSEClient(f"{live_url}/live/{blog.slug}/events", last_event_id="0")
    try:
        messages = sse.messages(blog.last_seq)
    finally:
        sse.close()
    assert [int(m.id) for m in messages] == list(range(1, blog.last_seq + 1))
    assert not any(SECRET in m.data for m in messages)
    assert [m.json["entry"] for m in messages if m.json.get("entry", {}).get("id") == entry.pk] == [
        tombstone(entry.pk)
    ] * 3


def test_a_webhook_re_sent_after_the_delete_carries_the_tombstone(
    blog, reporter, editor, settings, django_capture_on_commit_callbacks
):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    settings.LIVEBLOG_WEBHOOK_BACKOFF_BASE = 0.01
    healthy = {"ok": False}
    partner_server = Recorder(lambda rec: (200 if healthy["ok"] else 503, 0))
    try:
        services.webhook_partner_create(user=editor, url=partner_server.url)
        with django_capture_on_commit_callbacks(execute=True):
            entry = make_entry(blog=blog, user=reporter, body=f"Named as {SECRET}.")
        assert WebhookDelivery.objects.get().status == "failed"
        healthy["ok"] = True
        with django_capture_on_commit_callbacks(execute=True):
            services.entry_delete(entry=entry, user=reporter)
        time.sleep(0.05)
        tasks.sweep_task()
        bodies = [json.loads(r.body) for r in partner_server.wait_for(3)]
    finally:
        partner_server.close()
    assert SECRET in json.dumps(bodies[0])  # sent while it was up
    later = bodies[1:]
    assert sorted(b["type"] for b in later) == ["entry.deleted", "entry.published"]
    assert all(b["data"]["entry"] == tombstone(entry.pk) for b in later)


def test_a_push_for_an_entry_taken_down_since_is_not_sent(blog, reporter, settings):
    entry = make_entry(blog=blog, user=reporter, headline=SECRET, key_event=True)
    event = Event.objects.get(blog=blog, type="entry.published")
    sub = blog.push_subscriptions.create(endpoint="https://push.example/1", p256dh="x", auth="y")
    services.entry_delete(entry=entry, user=reporter)
    assert push.send_batch(event_id=event.pk, subscription_ids=[sub.pk]) == 0


# --- Legal erase ---------------------------------------------------------------------


@pytest.fixture
def token_client():
    def make(user):
        _, key = services.token_create(user=user)
        return Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    return make


def _dump() -> str:
    out = StringIO()
    call_command("dumpdata", "posts", stdout=out)
    return out.getvalue()


def test_legal_erase_removes_the_text_from_everything_stored_and_keeps_an_audit_record(
    blog, reporter, editor, token_client, settings, django_capture_on_commit_callbacks
):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    partner_server = Recorder(lambda rec: (500, 0))
    try:
        services.webhook_partner_create(user=editor, url=partner_server.url)
        with django_capture_on_commit_callbacks(execute=True):
            entry, _ = _story(blog, reporter, editor)
    finally:
        partner_server.close()
    # A partner's error replies that quoted what we sent (the entry's events
    # and the blog.updated event quoting it as pinned).
    quoting = [e.pk for e in Event.objects.filter(blog=blog) if SECRET in json.dumps(e.payload)]
    assert len(quoting) == 3
    WebhookAttempt.objects.filter(delivery__event__in=quoting).update(error=f"HTTP 500: could not store {SECRET}")
    WebhookDelivery.objects.filter(event__in=quoting).update(last_error=f"HTTP 500: could not store {SECRET}")
    unrelated = WebhookAttempt.objects.exclude(delivery__event__in=quoting).first()
    WebhookAttempt.objects.filter(pk=unrelated.pk).update(error="HTTP 500: partner down")
    Client().get(f"/live/{blog.slug}/")  # cached
    assert SECRET in _dump()

    url = f"/api/blogs/{blog.slug}/entries/{entry.pk}/erase"
    refused = token_client(reporter).post(url, {"reason": "x"}, content_type="application/json")
    assert refused.status_code == 403
    assert token_client(editor).post(url, {"reason": "  "}, content_type="application/json").status_code == 422
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(editor).post(
            url, {"reason": "Court order 2026/118 (witness anonymity)"}, content_type="application/json"
        )
    assert response.status_code == 200, response.content
    record = response.json()
    assert record["entry_id"] == entry.pk and record["erased_by"] == editor.username
    assert record["reason"] == "Court order 2026/118 (witness anonymity)" and record["erased_at"]

    assert SECRET not in _dump(), "the text survives somewhere in the database"
    assert not any(SECRET.encode() in value for value in _stored_responses())
    entry.refresh_from_db()
    assert entry.status == "deleted" and (entry.headline, entry.body, entry.body_html, entry.body_text) == ("",) * 4
    assert set(EntryRevision.objects.filter(entry=entry).values_list("headline", "body")) == {("", "")}
    erasure = Erasure.objects.get()
    assert (erasure.erased_by, erasure.entry_id, erasure.blog_slug) == (editor, entry.pk, blog.slug)
    assert Event.objects.filter(blog=blog, type="entry.deleted").count() == 1  # the erase took it down
    assert WebhookAttempt.objects.get(pk=unrelated.pk).error == "HTTP 500: partner down"


def test_erasing_an_entry_deleted_earlier_does_not_announce_it_again(blog, reporter, editor):
    entry, _ = _story(blog, reporter, editor)
    services.entry_delete(entry=entry, user=reporter)
    seq = Event.objects.filter(blog=blog).count()
    services.entry_erase(entry=entry, user=editor, reason="Complaint upheld")
    assert Event.objects.filter(blog=blog).count() == seq
    assert SECRET not in _dump()


def _desk(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_contributors_cannot_read_a_deleted_entrys_history(blog, reporter, editor, contributor):
    entry, _ = _story(blog, reporter, editor)
    history = f"/desk/blogs/{blog.slug}/entries/{entry.pk}/history/"
    assert _desk(contributor).get(history).status_code == 200  # while it is up
    services.entry_delete(entry=entry, user=reporter)
    refused = _desk(contributor).get(history)
    assert refused.status_code == 404 and SECRET not in refused.content.decode()
    assert SECRET in _desk(reporter).get(history).content.decode()  # editors and reporters keep it
    page = _desk(editor).get(history).content.decode()
    assert SECRET in page and "Legal erase" in page
    assert "Legal erase" not in _desk(reporter).get(history).content.decode()


def test_editors_erase_from_the_desk_history_page(blog, reporter, editor):
    entry, _ = _story(blog, reporter, editor)
    url = f"/desk/blogs/{blog.slug}/entries/{entry.pk}/erase/"
    assert _desk(reporter).post(url, {"reason": "x"}).status_code == 403
    assert _desk(editor).post(url, {"reason": ""}).status_code == 422
    assert not Erasure.objects.exists()
    response = _desk(editor).post(url, {"reason": "Defamation claim"})
    assert response.status_code == 302
    assert Erasure.objects.get().reason == "Defamation claim"
    assert SECRET not in _dump()


def test_admins_erase_by_adding_an_erasure(admin_client, blog, reporter, editor):
    entry, _ = _story(blog, reporter, editor)
    response = admin_client.post(
        "/admin/posts/erasure/add/", {"entry_id": entry.pk, "reason": "Court order"}, follow=True
    )
    assert response.status_code == 200
    erasure = Erasure.objects.get()
    assert erasure.reason == "Court order" and erasure.erased_by_name == "admin"
    assert SECRET not in _dump()
    listing = admin_client.get("/admin/posts/erasure/").content.decode()
    assert "Court order" in listing
    assert admin_client.post("/admin/posts/erasure/add/", {"entry_id": 999999, "reason": "x"}).status_code == 200
    assert Erasure.objects.count() == 1


def test_a_pickled_cache_value_check_sees_text(blog):
    """Guard for the helper above: a stored response holding the text is found."""
    cache.set("resp:probe", (200, SECRET.encode(), {}))
    try:
        assert any(SECRET.encode() in (v if isinstance(v, bytes) else pickle.dumps(v)) for v in _stored_responses())
    finally:
        cache.delete("resp:probe")
