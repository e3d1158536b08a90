"""Webhook partners: registration API, Standard Webhooks signing, retries,
pausing, batching and the SSRF guard. Partners are real local HTTP servers;
fan-out runs in-process here (test_webhooks_worker.py uses a real worker)."""

from __future__ import annotations

import json
import socket
import time
from datetime import timedelta

import pytest
from django.test import Client
from standardwebhooks.webhooks import Webhook

from posts.delivery import records, tasks
from posts.domain import services
from posts.domain.models import Event, WebhookAttempt, WebhookDelivery, WebhookPartner
from tests.factories import make_blog, make_entry

from .fanout_support import Recorder


@pytest.fixture
def partner_server():
    servers = []

    def start(respond=None):
        server = Recorder(respond)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def allow_private(settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def api(editor):
    _, key = services.token_create(user=editor)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def _register(api, url, **extra):
    response = api.post("/api/webhooks", {"url": url, **extra}, content_type="application/json")
    return response


def _publish(blog, user, commit, **kwargs):
    with commit(execute=True):
        return make_entry(blog=blog, user=user, **kwargs)


# --- Registration -------------------------------------------------------------------


def test_editor_registers_a_partner_and_sees_the_secret_only_once(api, blog, allow_private):
    response = _register(api, "http://127.0.0.1:9/hook", blogs=[blog.slug], event_types=["entry.published"])
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert created["blogs"] == [blog.slug] and created["event_types"] == ["entry.published"]

    listed = api.get("/api/webhooks").json()
    assert [p["id"] for p in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"/api/webhooks/{created['id']}").json()


def test_only_editors_with_a_token_manage_partners(reporter, blog):
    assert Client().post("/api/webhooks", {"url": "https://93.184.216.34/h"}, content_type="application/json").status_code == 401
    _, key = services.token_create(user=reporter)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(
        "/api/webhooks", {"url": "https://93.184.216.34/h"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "editor" in response.json()["detail"].lower()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_loopback_and_link_local_urls_are_refused_at_registration(api, url):
    response = _register(api, url)
    assert response.status_code == 422, response.content
    assert "LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE" in response.json()["detail"]
    assert not WebhookPartner.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://93.184.216.34/x", "event_types": ["entry.exploded"]}, "event_types"),
        ({"url": "https://93.184.216.34/x", "blogs": ["no-such-blog"]}, "blogs"),
    ],
)
def test_bad_partner_input_gets_a_clear_4xx(api, payload, field, allow_private):
    response = api.post("/api/webhooks", payload, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response.json()["field"].split(".")[0] == field  # event_types.0: the schema's enum names the item


# --- Delivery -----------------------------------------------------------------------


def test_each_event_is_posted_signed_per_standard_webhooks(
    blog, reporter, editor, partner_server, allow_private, django_capture_on_commit_callbacks
):
    server = partner_server()
    partner, secret = services.webhook_partner_create(user=editor, url=f"{server.url}/hook")
    entry = _publish(blog, reporter, django_capture_on_commit_callbacks, body="Turnout is at 61%.")

    [request] = server.wait_for(1)
    payload = Webhook(secret).verify(request.body.decode(), request.headers)
    event = Event.objects.get(blog=blog, type="entry.published")
    assert payload["type"] == "entry.published" and payload["blog"] == blog.slug
    assert payload["data"] == json.loads(json.dumps(event.message))
    assert payload["data"]["entry"]["id"] == entry.pk
    delivery = WebhookDelivery.objects.get(partner=partner, event=event)
    assert request.headers["webhook-id"] == delivery.msg_id == f"evt_{event.pk}_{partner.pk}"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert delivery.status == "succeeded" and delivery.attempts == 1
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [200]
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body.decode(), request.headers)


def test_partners_get_only_the_blogs_and_event_types_they_asked_for(
    blog, reporter, editor, partner_server, allow_private, django_capture_on_commit_callbacks
):
    other = make_blog(editor=editor, title="Budget day")
    everything = partner_server()
    filtered = partner_server()
    services.webhook_partner_create(user=editor, url=everything.url)
    services.webhook_partner_create(
        user=editor, url=filtered.url, blogs=[other.slug], event_types=["entry.updated"]
    )
    entry = _publish(blog, reporter, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_edit(entry=entry, user=reporter, version=entry.version, body="Polls closed at 10pm.")
    other_entry = _publish(other, editor, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_edit(entry=other_entry, user=editor, version=other_entry.version, body="Corrected.")

    assert len(everything.wait_for(4)) == 4
    time.sleep(0.2)
    [only] = filtered.requests
    assert json.loads(only.body)["blog"] == other.slug and json.loads(only.body)["type"] == "entry.updated"


def test_a_failed_delivery_is_retried_with_the_same_id_and_every_attempt_is_logged(
    blog, reporter, editor, partner_server, allow_private, settings, django_capture_on_commit_callbacks
):
    settings.LIVEBLOG_WEBHOOK_BACKOFF_BASE = 0.01
    answers = iter([(503, 0), (200, 0)])
    server = partner_server(lambda rec: next(answers))
    partner, secret = services.webhook_partner_create(user=editor, url=server.url)
    _publish(blog, reporter, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(partner=partner)
    assert delivery.status == "failed" and delivery.attempts == 1 and delivery.next_attempt_at is not None
    assert "HTTP 503" in delivery.last_error

    time.sleep(0.05)
    assert tasks.sweep_task()["deliveries"] == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    first, second = server.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.msg_id
    Webhook(secret).verify(second.body.decode(), second.headers)
    assert sorted(WebhookAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)) == [200, 503]
    partner.refresh_from_db()
    assert partner.consecutive_failures == 0 and partner.last_success_at is not None


def test_backoff_doubles_with_jitter_up_to_the_cap(settings):
    settings.LIVEBLOG_WEBHOOK_BACKOFF_BASE = 10
    settings.LIVEBLOG_WEBHOOK_BACKOFF_CAP = 100
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (12, 100)]:
        delays = {records.webhook_backoff(attempts).total_seconds() for _ in range(20)}
        assert all(full / 2 <= d <= full for d in delays)
        assert len(delays) > 1  # jittered


def test_a_delivery_is_given_up_after_the_maximum_attempts(
    blog, reporter, editor, partner_server, allow_private, settings, django_capture_on_commit_callbacks
):
    settings.LIVEBLOG_WEBHOOK_BACKOFF_BASE = 0.001
    settings.LIVEBLOG_WEBHOOK_MAX_ATTEMPTS = 3
    server = partner_server(lambda rec: (500, 0))
    services.webhook_partner_create(user=editor, url=server.url)
    _publish(blog, reporter, django_capture_on_commit_callbacks)
    for _ in range(4):
        time.sleep(0.01)
        tasks.sweep_task()
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 3 and delivery.status == "failed" and delivery.next_attempt_at is None
    assert len(server.requests) == 3


def test_a_partner_failing_long_enough_is_paused_and_editors_see_why(
    api, blog, reporter, editor, partner_server, allow_private, settings, django_capture_on_commit_callbacks
):
    settings.LIVEBLOG_WEBHOOK_PAUSE_MIN_FAILURES = 2
    settings.LIVEBLOG_WEBHOOK_PAUSE_AFTER_SECONDS = 0
    healthy = {"ok": False}
    server = partner_server(lambda rec: (200 if healthy["ok"] else 500, 0))
    partner, _ = services.webhook_partner_create(user=editor, url=server.url)
    _publish(blog, reporter, django_capture_on_commit_callbacks, body="one")
    _publish(blog, reporter, django_capture_on_commit_callbacks, body="two")

    shown = api.get(f"/api/webhooks/{partner.pk}").json()
    assert shown["paused"] is True and shown["consecutive_failures"] == 2
    assert "2 failed deliveries in a row" in shown["pause_reason"] and "HTTP 500" in shown["pause_reason"]

    _publish(blog, reporter, django_capture_on_commit_callbacks, body="three, while paused")
    tasks.sweep_task()
    assert len(server.requests) == 2  # nothing sent while paused

    healthy["ok"] = True
    resumed = api.post(f"/api/webhooks/{partner.pk}/resume").json()
    assert resumed["paused"] is False and resumed["pause_reason"] == ""
    tasks.sweep_task()
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    bodies = {json.loads(r.body)["data"]["entry"]["body"] for r in server.requests}
    assert bodies == {"one", "two", "three, while paused"}
    log = api.get(f"/api/webhooks/{partner.pk}/deliveries").json()
    assert len(log) == 3 and all(d["attempt_log"] for d in log)


def test_a_partner_answering_410_gone_is_paused_at_once(
    blog, reporter, editor, partner_server, allow_private, django_capture_on_commit_callbacks
):
    server = partner_server(lambda rec: (410, 0))
    partner, _ = services.webhook_partner_create(user=editor, url=server.url)
    _publish(blog, reporter, django_capture_on_commit_callbacks)
    partner.refresh_from_db()
    assert partner.paused_at is not None and "410 Gone" in partner.pause_reason


def test_a_thousand_partners_are_a_few_concurrent_batches_not_a_task_each(
    blog, reporter, editor, partner_server, allow_private, settings, monkeypatch,
    django_capture_on_commit_callbacks,
):
    settings.LIVEBLOG_WEBHOOK_BATCH_SIZE = 25
    server = partner_server(lambda rec: (200, 0.3))
    for n in range(50):
        WebhookPartner.objects.create(url=f"{server.url}/p{n}", secret="whsec_" + "B" * 43 + "=")
    batches = []
    real_delay = tasks.deliver_webhooks_task.delay
    monkeypatch.setattr(tasks.deliver_webhooks_task, "delay", lambda ids: batches.append(len(ids)) or real_delay(ids))

    started = time.monotonic()
    _publish(blog, reporter, django_capture_on_commit_callbacks)
    elapsed = time.monotonic() - started

    assert batches == [25, 25]
    assert len(server.wait_for(50)) == 50
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 50
    assert elapsed < 3, f"50 partners answering in 0.3s each took {elapsed:.1f}s: not concurrent"


# --- SSRF at delivery -----------------------------------------------------------------


def test_delivery_refuses_a_host_that_now_resolves_to_a_private_address(
    blog, reporter, editor, partner_server, monkeypatch, django_capture_on_commit_callbacks
):
    """DNS rebinding: public at registration, loopback at delivery."""
    server = partner_server()
    port = int(server.url.rsplit(":", 1)[1])
    real_getaddrinfo = socket.getaddrinfo
    answers = {"partner.example": "93.184.216.34"}

    def fake_getaddrinfo(host, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    partner, _ = services.webhook_partner_create(user=editor, url=f"http://partner.example:{port}/hook")
    answers["partner.example"] = "127.0.0.1"
    _publish(blog, reporter, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(partner=partner)
    assert delivery.status == "failed"
    assert "127.0.0.1" in delivery.last_error and "refused" in delivery.last_error
    assert server.requests == []


def test_delivery_refuses_a_private_ip_literal_once_private_partners_are_disallowed(
    blog, reporter, editor, partner_server, settings, django_capture_on_commit_callbacks
):
    server = partner_server()
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    partner, _ = services.webhook_partner_create(user=editor, url=server.url)
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False
    _publish(blog, reporter, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(partner=partner)
    assert delivery.status == "failed" and "refused" in delivery.last_error
    assert server.requests == []


def test_fan_out_twice_creates_no_second_delivery(
    blog, reporter, editor, partner_server, allow_private, django_capture_on_commit_callbacks
):
    server = partner_server()
    services.webhook_partner_create(user=editor, url=server.url)
    _publish(blog, reporter, django_capture_on_commit_callbacks)
    event = Event.objects.get(type="entry.published")
    Event.objects.filter(pk=event.pk).update(fanned_out_at=None)  # as if unconfirmed
    tasks.fan_out_task(event.pk)  # runs: the event was unconfirmed (asserted below)
    time.sleep(0.1)
    assert WebhookDelivery.objects.count() == 1 and len(server.requests) == 1
    assert Event.objects.get(pk=event.pk).fanned_out_at is not None
    assert timedelta(0) <= Event.objects.get(pk=event.pk).fanned_out_at - event.created_at


def test_editors_edit_pause_and_remove_partners_through_the_api(api, blog, allow_private):
    created = _register(api, "http://127.0.0.1:9/hook").json()
    url = f"/api/webhooks/{created['id']}"
    patched = api.patch(url, {"event_types": ["blog.closed"], "blogs": [blog.slug]}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["event_types"] == ["blog.closed"]
    assert api.patch(url, {"colour": "red"}, content_type="application/json").status_code == 422
    paused = api.post(f"{url}/pause", {"reason": "Partner migrating servers"}, content_type="application/json")
    assert paused.json()["paused"] is True and paused.json()["pause_reason"] == "Partner migrating servers"
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_admin_registers_partners_through_the_guard_and_shows_the_secret_once(admin_client, blog, settings):
    form = {"name": "Wire service", "url": "http://127.0.0.1:9/hook", "event_types": "[]", "active": "on",
            "blogs": [blog.pk]}
    refused = admin_client.post("/admin/posts/webhookpartner/add/", form, follow=True)
    assert "LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE" in refused.content.decode()
    assert not WebhookPartner.objects.exists()

    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    added = admin_client.post("/admin/posts/webhookpartner/add/", form)
    partner = WebhookPartner.objects.get()
    assert partner.secret.startswith("whsec_") and partner.secret in added.content.decode()
    assert list(partner.blogs.all()) == [blog]
    admin_client.post("/admin/posts/webhookpartner/", {"action": "pause_selected", "_selected_action": [partner.pk]})
    partner.refresh_from_db()
    assert partner.paused_at is not None and "admin" in partner.pause_reason
