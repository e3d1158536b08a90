"""The API speaks JSON to the end: unknown paths, wrong methods and encoded
slashes answer JSON errors (405 with Allow); HEAD works on every public read
(pages, feeds, API) as CDNs use it; the OpenAPI document states the limits
the server enforces."""

from __future__ import annotations

import pytest
from django.conf import settings

from posts.domain import services
from posts.domain.selectors import MAX_PAGE_SIZE

from .factories import make_entry


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["detail"]
    return body


@pytest.mark.parametrize("path", [
    "/api/nothing-here", "/api/blogs/", "/api/blogs/a/b/c/d", "/api/blogs/a%2Fb", "/api/blogs/a%2Fb/entries",
    "/api/blogs/%2F%2F/updates", "/api/webhooks/x", "/api/blogs/no-such-blog",
])
def test_unknown_api_paths_and_encoded_slashes_answer_json_404(client, blog, path):
    body = _json_error(client.get(path), 404)
    assert body.get("code") in {None, "not_found"}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("post", "/api/blogs/{slug}/updates", {"GET", "HEAD"}),
    ("put", "/api/blogs", {"GET", "HEAD", "POST"}),
    ("delete", "/api/blogs/{slug}", {"GET", "HEAD", "PATCH"}),
    ("put", "/api/blogs/{slug}/entries/{id}", {"GET", "HEAD", "PATCH", "DELETE"}),
    ("patch", "/api/openapi.json", {"GET", "HEAD"}),
])
def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(client, blog, editor, method, path, allowed):
    entry = make_entry(blog=blog, user=editor)
    response = getattr(client, method)(path.format(slug=blog.slug, id=entry.pk))
    body = _json_error(response, 405)
    assert {m.strip() for m in response["Allow"].split(",")} == allowed
    assert body["code"] == "method_not_allowed"


def test_an_oversized_request_body_stays_413_in_json(client, blog, editor, settings):
    _, key = services.token_create(user=editor)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    too_long = "x" * (settings.LIVEBLOG_MAX_BODY_CHARS + 1)
    response = client.post(f"/api/blogs/{blog.slug}/entries", {"body": too_long},
                           content_type="application/json", **auth)
    assert _json_error(response, 413)["field"] == "body"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    huge = client.post(f"/api/blogs/{blog.slug}/entries", {"body": "y" * 5000}, content_type="application/json", **auth)
    _json_error(huge, 413)


@pytest.fixture
def public_reads(blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Counted")
    slug = blog.slug
    return [
        "/", f"/live/{slug}/", f"/live/{slug}/entries/{entry.pk}/",
        f"/live/{slug}/feed.rss", f"/live/{slug}/feed.atom", f"/live/{slug}/feed.json",
        "/api/blogs", f"/api/blogs/{slug}", f"/api/blogs/{slug}/entries", f"/api/blogs/{slug}/entries/{entry.pk}",
        f"/api/blogs/{slug}/updates?since=0", "/api/openapi.json", "/sw.js", "/push/key",
    ]


def test_head_answers_every_public_read_like_get_without_a_body(client, public_reads):
    for url in public_reads:
        got = client.get(url)
        head = client.head(url)
        assert got.status_code == 200, url
        assert head.status_code == 200, (url, head.status_code)
        assert head.content == b"", url
        for name in ["Content-Type", "Cache-Control", "ETag", "Surrogate-Key"]:
            assert head.get(name) == got.get(name), (url, name)


def test_head_on_a_missing_api_read_is_a_404_without_a_body(client, blog):
    response = client.head("/api/blogs/no-such-blog")
    assert response.status_code == 404 and response.content == b""
    assert response["Content-Type"].startswith("application/json")


def test_the_schema_states_the_limits_the_server_enforces(client):
    doc = client.get("/api/openapi.json").json()
    parts = doc["components"]["schemas"]
    entry_in = parts["EntryCreateIn"]["properties"]
    assert entry_in["body"]["maxLength"] == settings.LIVEBLOG_MAX_BODY_CHARS and entry_in["body"]["minLength"] == 1
    assert entry_in["headline"]["maxLength"] == settings.LIVEBLOG_MAX_HEADLINE_CHARS
    assert entry_in["kind"]["enum"] == ["update", "summary", "closing"]
    assert parts["BlogCreateIn"]["properties"]["title"]["maxLength"] == 200
    assert parts["EntryShape"]["properties"]["status"]["enum"] == ["draft", "scheduled", "published", "deleted"]
    assert parts["BlogSummaryShape"]["properties"]["status"]["enum"] == ["draft", "live", "closed"]
    assert parts["EntryShape"]["properties"]["published_at"]["anyOf"][0]["format"] == "date-time"
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/blogs/{slug}/entries"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, MAX_PAGE_SIZE)
    since = doc["paths"]["/api/blogs/{slug}/updates"]["get"]["parameters"]
    assert next(p for p in since if p["name"] == "since")["schema"]["minimum"] == 0
    create = doc["paths"]["/api/blogs/{slug}/entries"]["post"]["responses"]
    assert {"401", "403", "404", "409", "413", "422"} <= set(create)


def test_the_limits_stated_are_the_ones_refused(client, blog):
    assert client.get(f"/api/blogs/{blog.slug}/entries?limit=0").status_code == 422
    assert client.get(f"/api/blogs/{blog.slug}/entries?limit={MAX_PAGE_SIZE + 1}").status_code == 422
    assert client.get(f"/api/blogs/{blog.slug}/entries?limit={MAX_PAGE_SIZE}").status_code == 200
    assert client.get(f"/api/blogs/{blog.slug}/updates?since=-1").status_code == 422


def test_even_a_crash_under_api_answers_json(blog, monkeypatch):
    from django.test import Client

    from posts.domain import selectors

    def boom(**kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(selectors, "public_blogs", boom)
    response = Client(raise_request_exception=False).get("/api/blogs")
    body = _json_error(response, 500)
    assert body["code"] == "server_error" and "simulated" not in body["detail"]
