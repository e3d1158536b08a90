"""Idempotency-Key on writes: the API per token, the desk's forms per user.
A retry after a timeout (or a double click) gets the first answer and writes
nothing twice; the same key with another request is a 422; while the first
one runs, a 409."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from posts.domain import services
from posts.domain.models import Entry, Event, IdempotencyKey
from posts.web.api import idempotency


def _token(user) -> str:
    return services.token_create(user=user)[1]


def _post(client, token, url, body, key=None, method="post"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return getattr(client, method)(f"/api{url}", data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def token(editor):
    return _token(editor)


def test_the_same_key_and_body_get_the_first_answer_and_write_once(client, token, blog):
    url = f"/blogs/{blog.slug}/entries"
    first = _post(client, token, url, {"body": "Polls close."}, key="k-1")
    events = Event.objects.filter(blog=blog).count()
    again = _post(client, token, url, {"body": "Polls close."}, key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Entry.objects.filter(blog=blog, body="Polls close.").count() == 1
    assert Event.objects.filter(blog=blog).count() == events


def test_an_error_answer_is_repeated_too(client, token, blog):
    url = f"/blogs/{blog.slug}/entries/999999"
    first = _post(client, token, url, {"body": "x", "version": 1}, key="k-404", method="patch")
    again = _post(client, token, url, {"body": "x", "version": 1}, key="k-404", method="patch")
    assert first.status_code == again.status_code == 404
    assert again.json() == first.json()


def test_the_same_key_with_another_body_is_a_422_with_its_code(client, token, blog):
    url = f"/blogs/{blog.slug}/entries"
    assert _post(client, token, url, {"body": "One."}, key="k-2").status_code == 201
    other = _post(client, token, url, {"body": "Another."}, key="k-2")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused" and other.json()["field"] == "Idempotency-Key"
    assert not Entry.objects.filter(body="Another.").exists()


def test_the_same_key_while_the_first_request_runs_is_a_409(client, token, blog):
    """The first request has claimed the key (what the middleware does before
    the write) and not answered yet when the retry arrives."""
    url = f"/blogs/{blog.slug}/entries"
    request = RequestFactory().post(
        f"/api{url}", data=json.dumps({"body": "Slow."}), content_type="application/json"
    )
    claim, fresh = services.idempotency_claim(
        scope=services.token_scope(token), key="k-3", fingerprint=idempotency.fingerprint(request)
    )
    assert fresh
    retry = _post(client, token, url, {"body": "Slow."}, key="k-3")
    assert retry.status_code == 409 and retry.json()["code"] == "idempotency_in_flight"
    assert not Entry.objects.filter(body="Slow.").exists()
    # A first request that never answers (its process died) lets a retry
    # take the key over after IN_FLIGHT_FOR.
    IdempotencyKey.objects.filter(pk=claim.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    taken = _post(client, token, url, {"body": "Slow."}, key="k-3")
    assert taken.status_code == 201 and not taken.has_header("Idempotent-Replayed")
    assert Entry.objects.filter(body="Slow.").count() == 1


def test_keys_belong_to_one_token_and_last_a_day(client, editor, blog):
    url = f"/blogs/{blog.slug}/entries"
    mine, other = _token(editor), _token(editor)
    assert _post(client, mine, url, {"body": "Mine."}, key="shared").status_code == 201
    assert _post(client, other, url, {"body": "Theirs."}, key="shared").status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    later = _post(client, mine, url, {"body": "Mine, a day later."}, key="shared")
    assert later.status_code == 201 and not later.has_header("Idempotent-Replayed")


def test_a_refused_token_or_no_key_leaves_nothing_behind(client, blog):
    url = f"/blogs/{blog.slug}/entries"
    assert _post(client, "not-a-token", url, {"body": "x"}, key="k-4").status_code == 401
    assert not IdempotencyKey.objects.exists()


def test_a_key_that_is_too_long_is_a_422(client, token, blog):
    response = _post(client, token, f"/blogs/{blog.slug}/entries", {"body": "x"}, key="k" * 256)
    assert response.status_code == 422 and response.json()["field"] == "Idempotency-Key"


# --- The desk ---------------------------------------------------------------------


def _composer_key(client, blog) -> str:
    page = client.get(reverse("desk:blog", kwargs={"slug": blog.slug})).content.decode()
    composer = page[page.index('id="composer"'):]
    return re.search(r'name="idempotency_key" value="([^"]+)"', composer).group(1)


def test_a_desk_form_sent_twice_publishes_once(client, reporter, blog):
    client.force_login(reporter)
    key = _composer_key(client, blog)
    assert key != _composer_key(client, blog)  # one per rendering
    form = {"body": "Counting starts.", "kind": "update", "action": "publish", "idempotency_key": key}
    url = reverse("desk:entry-create", kwargs={"slug": blog.slug})
    first = client.post(url, form, HTTP_ACCEPT="application/json")
    second = client.post(url, form, HTTP_ACCEPT="application/json")
    assert first.status_code == second.status_code == 201
    assert second.json()["entry"]["id"] == first.json()["entry"]["id"]
    assert Entry.objects.filter(blog=blog, body="Counting starts.").count() == 1
