"""The authenticated write API: bearer tokens, the services' rules, version
checks, and JSON errors with the right status (never a 500)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from posts.domain import services
from posts.domain.models import Blog, Entry

from .factories import make_entry


def _token(user) -> str:
    return services.token_create(user=user)[1]


class Api:
    def __init__(self, client, user=None):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {_token(user)}"} if user else {}

    def _send(self, method, url, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = {"content_type": "application/json"} if data is not None else {}
        if data is not None:
            kwargs["data"] = data
        return getattr(self.client, method)(f"/api{url}", **kwargs, **self.headers)

    def post(self, url, body=None, **kw):
        return self._send("post", url, body, **kw)

    def patch(self, url, body=None, **kw):
        return self._send("patch", url, body, **kw)

    def delete(self, url):
        return self._send("delete", url)


@pytest.fixture
def as_editor(client, editor):
    return Api(client, editor)


@pytest.fixture
def as_reporter(client, reporter):
    return Api(client, reporter)


def test_editor_creates_a_blog(as_editor):
    response = as_editor.post("/blogs", {"title": "Storm Ada", "standfirst": "Winds of **90mph**", "status": "live"})
    assert response.status_code == 201
    data = response.json()
    assert data["slug"] == "storm-ada" and data["status"] == "live"
    assert "<strong>90mph</strong>" in data["standfirst_html"]
    assert response["Cache-Control"] == "private, no-store"


def test_writes_need_a_valid_token(client, blog, reporter):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer lb_wrong"}, {"HTTP_AUTHORIZATION": "Basic abc"}):
        response = client.post(f"/api/blogs/{blog.slug}/entries", data={"body": "x"},
                               content_type="application/json", **headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert "token" in response.json()["detail"]
    token, key = services.token_create(user=reporter)
    services.token_revoke(token=token)
    response = client.post(f"/api/blogs/{blog.slug}/entries", data={"body": "x"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 401


def test_reporters_cannot_create_blogs_and_contributors_cannot_publish(client, blog, reporter, contributor):
    assert Api(client, reporter).post("/blogs", {"title": "Mine"}).status_code == 403
    response = Api(client, contributor).post(f"/blogs/{blog.slug}/entries", {"body": "hi"})
    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    assert "publish" in response.json()["detail"]


def test_posting_an_entry_publishes_it_and_readers_see_it(client, as_reporter, blog):
    response = as_reporter.post(f"/blogs/{blog.slug}/entries",
                                {"body": "Turnout is **high**.", "headline": "Turnout", "key_event": True})
    assert response.status_code == 201
    entry = response.json()
    assert entry["status"] == "published" and entry["key_event"] is True and entry["version"] == 1
    public = client.get(f"/api/blogs/{blog.slug}/entries/{entry['id']}").json()
    assert public["body_html"] == "<p>Turnout is <strong>high</strong>.</p>"


def test_publish_at_makes_an_entry_scheduled_by_default(as_reporter, blog):
    when = (timezone.now() + timedelta(hours=2)).isoformat()
    response = as_reporter.post(f"/blogs/{blog.slug}/entries", {"body": "Later", "publish_at": when})
    assert response.status_code == 201
    assert response.json()["status"] == "scheduled"
    assert Entry.objects.get(pk=response.json()["id"]).publish_at is not None


@pytest.mark.parametrize("body,field", [
    ({"body": "x", "colour": "red"}, "colour"),
    ({"body": 12}, "body"),
    ({"headline": "no body"}, "body"),
    ({"body": "x", "key_event": "maybe"}, "key_event"),
    ({"body": "x", "kind": "rumour"}, "kind"),
    ({"body": "x", "publish_at": "2026-02-30T10:00:00Z"}, "publish_at"),
    ({"body": "x", "publish_at": "2030-01-01T10:00:00"}, "publish_at"),
    ({"body": "x", "status": "published", "publish_at": "2030-01-01T10:00:00Z"}, "publish_at"),
    ({"body": "   "}, "body"),
])
def test_bad_entry_input_is_a_422_naming_the_field(as_reporter, blog, body, field):
    response = as_reporter.post(f"/blogs/{blog.slug}/entries", body)
    assert response.status_code == 422, response.content
    error = response.json()
    assert error["field"] == field
    assert error["code"] == "invalid"
    assert field in error["detail"] or error["detail"]


def test_a_body_that_is_not_json_is_a_400(as_reporter, blog):
    response = as_reporter.post(f"/blogs/{blog.slug}/entries", raw="{not json")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert "JSON" in response.json()["detail"]


def test_oversized_bodies_are_413(as_reporter, blog, settings):
    too_long = "x" * (settings.LIVEBLOG_MAX_BODY_CHARS + 1)
    response = as_reporter.post(f"/blogs/{blog.slug}/entries", {"body": too_long})
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert "limit" in response.json()["detail"]
    huge = "y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = as_reporter.post(f"/blogs/{blog.slug}/entries", {"body": huge})
    assert response.status_code == 413
    assert response.json()["detail"]


def test_unknown_blog_or_entry_is_a_404(as_reporter, blog):
    assert as_reporter.post("/blogs/nope/entries", {"body": "x"}).status_code == 404
    assert as_reporter.patch(f"/blogs/{blog.slug}/entries/999999", {"version": 1, "body": "x"}).status_code == 404
    assert as_reporter.delete(f"/blogs/{blog.slug}/entries/999999").status_code == 404


def test_edit_with_current_version_sets_updated_at(as_reporter, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Teh result")
    response = as_reporter.patch(f"/blogs/{blog.slug}/entries/{entry.pk}", {"version": 1, "body": "The result"})
    assert response.status_code == 200
    data = response.json()
    assert data["body"] == "The result" and data["version"] == 2 and data["updated_at"]


def test_stale_version_is_a_409_carrying_the_current_entry(as_reporter, blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="First")
    services.entry_edit(entry=entry, user=editor, version=1, body="Editor's fix")
    response = as_reporter.patch(f"/blogs/{blog.slug}/entries/{entry.pk}", {"version": 1, "body": "Mine"})
    assert response.status_code == 409
    error = response.json()
    assert error["code"] == "stale_version"
    assert "version" in error["detail"]
    assert error["current"]["body"] == "Editor's fix" and error["current"]["version"] == 2
    entry.refresh_from_db()
    assert entry.body == "Editor's fix"


def test_patch_without_version_is_a_422(as_reporter, blog, reporter):
    entry = make_entry(blog=blog, user=reporter)
    response = as_reporter.patch(f"/blogs/{blog.slug}/entries/{entry.pk}", {"body": "x"})
    assert response.status_code == 422
    assert response.json()["field"] == "version"


def test_patch_changes_only_the_fields_sent(as_reporter, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Body stays", headline="Old", key_event=True)
    response = as_reporter.patch(f"/blogs/{blog.slug}/entries/{entry.pk}", {"version": 1, "headline": "New"})
    data = response.json()
    assert data["headline"] == "New" and data["body"] == "Body stays" and data["key_event"] is True


def test_delete_removes_the_entry_from_readers(client, as_reporter, blog, reporter):
    entry = make_entry(blog=blog, user=reporter)
    response = as_reporter.delete(f"/blogs/{blog.slug}/entries/{entry.pk}")
    assert response.status_code == 204
    assert client.get(f"/api/blogs/{blog.slug}/entries/{entry.pk}").status_code == 410
    assert as_reporter.delete(f"/blogs/{blog.slug}/entries/{entry.pk}").status_code == 404


def test_editor_patches_and_closes_a_blog(as_editor, blog):
    response = as_editor.patch(f"/blogs/{blog.slug}", {"title": "Election night: results"})
    assert response.status_code == 200 and response.json()["title"] == "Election night: results"
    response = as_editor.post(f"/blogs/{blog.slug}/close", {"body": "That's it.", "headline": "Goodnight"})
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "closed" and data["coverage_end"]
    assert data["pinned"]["kind"] == "closing" and data["pinned"]["headline"] == "Goodnight"
    again = as_editor.post(f"/blogs/{blog.slug}/close", {"body": "Again"})
    assert again.status_code == 409 and again.json()["code"] == "blog_already_closed"
    late = as_editor.post(f"/blogs/{blog.slug}/entries", {"body": "late"})
    assert late.status_code == 409 and late.json()["code"] == "blog_closed"


def test_blog_create_rejects_taken_slugs_and_bad_status(as_editor, blog):
    taken = as_editor.post("/blogs", {"title": "X", "slug": blog.slug})
    assert taken.status_code == 409 and taken.json()["code"] == "slug_taken"
    response = as_editor.post("/blogs", {"title": "X", "status": "closed"})
    assert response.status_code == 422 and response.json()["field"] == "status"
    assert Blog.objects.count() == 1


def test_every_error_code_is_listed_in_the_openapi_document(client):
    from posts.domain.errors import ErrorCode

    document = client.get("/api/openapi.json").json()
    assert document["components"]["schemas"]["ErrorCode"]["enum"] == [c.value for c in ErrorCode]
    assert "code" in document["components"]["schemas"]["ErrorOut"]["required"]


def test_bylines_name_team_members_by_username(as_reporter, blog, editor, reporter):
    from .factories import AuthorFactory

    colleague = AuthorFactory(user__username="ann", display_name="Ann Lee").user
    outsider = AuthorFactory(user__username="zed", display_name="Zed Out").user
    services.team_set_member(blog=blog, user=editor, member=colleague, role="reporter")
    response = as_reporter.post(f"/blogs/{blog.slug}/entries", {"body": "Two of us.", "authors": ["rep", "ann"]})
    assert response.status_code == 201, response.content
    entry = response.json()
    assert sorted(a["name"] for a in entry["authors"]) == sorted([reporter.author.name, "Ann Lee"])

    for names in (["zed"], ["nobody-by-this-name"]):
        refused = as_reporter.post(f"/blogs/{blog.slug}/entries", {"body": "Sneaky.", "authors": names})
        assert refused.status_code == 422, refused.content
        assert refused.json()["code"] == "not_team_member" and refused.json()["field"] == "authors"
    assert outsider.author.entries.count() == 0

    edited = as_reporter.patch(f"/blogs/{blog.slug}/entries/{entry['id']}",
                               {"version": entry["version"], "authors": ["ann"]})
    assert edited.status_code == 200 and [a["name"] for a in edited.json()["authors"]] == ["Ann Lee"]
    refused = as_reporter.patch(f"/blogs/{blog.slug}/entries/{entry['id']}",
                                {"version": edited.json()["version"], "authors": ["ann", "zed"]})
    assert refused.status_code == 422 and refused.json()["code"] == "not_team_member"
