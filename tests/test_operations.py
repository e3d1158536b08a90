"""The operator's surface: /healthz, /readyz, /metrics, request ids in JSON
logs and tasks, and that no log line carries an entry's text."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from liveblog.logging import JsonLines, RequestIdFilter, request_id
from posts.domain.models import Event
from posts.web import health

from .factories import make_entry


def test_healthz_answers_without_touching_anything(client):
    # No database fixture: a query here would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_reports_every_check_as_json_and_is_never_cached(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "cache", "broker", "migrations", "outbox"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"


def test_readyz_is_503_naming_the_outbox_when_an_event_waits_too_long(client, blog, settings):
    settings.LIVEBLOG_READY_MAX_OUTBOX_LAG = 60
    Event.objects.filter(blog=blog).update(fanned_out_at=None, created_at=timezone.now() - timedelta(minutes=5))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail" and body["failing"] == ["outbox"]
    assert "bound 60 s" in body["checks"]["outbox"]["detail"]
    assert response["Cache-Control"] == "no-store"


def test_readyz_is_503_naming_the_cache_when_the_cache_fails(client, db, monkeypatch):
    def broken():
        raise ConnectionError("cache down")

    monkeypatch.setitem(health.CHECKS, "cache", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]
    assert "cache down" in response.json()["checks"]["cache"]["detail"]


def test_readyz_names_unapplied_migrations(client, db, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("posts.0099_future", False)])
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]


# --- Metrics --------------------------------------------------------------------------


def _metric(text: str, name: str, **labels) -> float:
    """The sample ``name`` with exactly these labels in Prometheus' text format (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_metrics_count_requests_by_route_and_status_and_publish_latency(
    client, blog, reporter, django_capture_on_commit_callbacks
):
    before = Client().get("/metrics").content.decode()
    client.get(f"/api/blogs/{blog.slug}")
    client.get("/api/blogs/no-such-blog")
    with django_capture_on_commit_callbacks(execute=True):
        make_entry(blog=blog, user=reporter, body="Counted.")
    text = Client().get("/metrics").content.decode()
    route = "api/blogs/<slug>"
    for status in ("200", "404"):
        assert (
            _metric(text, "liveblog_http_requests_total", route=route, method="GET", status=status)
            - _metric(before, "liveblog_http_requests_total", route=route, method="GET", status=status)
        ) == 1
    assert _metric(text, "liveblog_service_duration_seconds_count", service="entry_create") >= 1
    assert _metric(text, "liveblog_fanout_duration_seconds_count") >= 1
    for name in ("liveblog_outbox_lag_seconds", "liveblog_webhook_backlog", "liveblog_sse_readers",
                 "liveblog_read_cache_total", "liveblog_webhook_attempts_total"):
        assert f"# TYPE {name}" in text


def test_metrics_count_read_cache_hits_and_misses(client, blog):
    before = client.get("/metrics").content.decode()
    first = client.get(f"/live/{blog.slug}/")
    second = client.get(f"/live/{blog.slug}/")
    text = client.get("/metrics").content.decode()
    results = [first["X-Read-Cache"], second["X-Read-Cache"]]
    for result in set(results):
        grown = _metric(text, "liveblog_read_cache_total", result=result) - _metric(
            before, "liveblog_read_cache_total", result=result
        )
        assert grown == results.count(result)


def test_metrics_show_the_outbox_lag(client, blog):
    Event.objects.filter(blog=blog).update(fanned_out_at=None, created_at=timezone.now() - timedelta(seconds=90))
    text = client.get("/metrics").content.decode()
    assert 89 <= _metric(text, "liveblog_outbox_lag_seconds") < 200
    assert _metric(text, "liveblog_outbox_unconfirmed_events") == Event.objects.filter(blog=blog).count()


# --- Request ids and JSON logs -------------------------------------------------------------


def test_a_request_keeps_the_id_nginx_gave_it_and_gets_one_otherwise(client, db):
    given = uuid.uuid4().hex
    assert client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32 and made != given
    # Anything odd is replaced, not logged as is.
    odd = client.get("/healthz", HTTP_X_REQUEST_ID="a b\nc")["X-Request-ID"]
    assert odd != "a b\nc" and len(odd) == 32


def test_log_lines_are_json_with_the_request_id():
    record = logging.LogRecord("posts.x", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    token = request_id.set("abc123")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "hello there"
    assert line["request_id"] == "abc123"
    assert line["level"] == "WARNING" and line["logger"] == "posts.x"
    assert line["ts"].endswith("+00:00") and "T" in line["ts"]


def test_tasks_sent_during_a_request_carry_its_id_in_their_headers():
    from liveblog.logging import _task_publish

    headers: dict = {}
    token = request_id.set("req-42")
    try:
        _task_publish(headers=headers)
    finally:
        request_id.reset(token)
    assert headers["request_id"] == "req-42"
