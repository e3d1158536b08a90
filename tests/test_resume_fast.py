"""The resume hand-off's hot path (posts/web/sse.py, ``wrap``): behind
nginx, a resume Nchan can serve now is answered before Django, with the
same ``X-Accel-Redirect`` Django's view gives; everything else reaches
Django unchanged. A local HTTP server stands in for Nchan's publisher
(tests/test_nchan_publish.py, which also checks that no resume across a
takedown is handed over); tests/test_deploy_e2e.py and the fault drill
(bench/faults.py) do it through the real nginx and Nchan."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.test import AsyncClient

from posts.delivery import pushmode
from posts.domain import services
from posts.web import sse
from tests.factories import make_blog, make_entry
from tests.test_nchan_publish import FakePublisher

HANDOFF = "/_nchan/"


@pytest.fixture
def publisher(settings):
    fake = FakePublisher()
    settings.LIVEBLOG_NCHAN_PUBLISH_URL = fake.url
    yield fake
    fake.close()


@pytest.fixture
def blog(transactional_db, editor, reporter, publisher):
    blog = make_blog(editor=editor, title="Count night")
    for n in range(3):
        make_entry(blog=blog, user=reporter, body=f"Update {n}")  # the fan-out publishes each to the fake
    blog.refresh_from_db()
    return blog


def _run(coroutine):
    """``asyncio.run`` in a thread of its own: a browser test earlier in the
    session leaves Playwright's event loop on this one."""
    result = {}

    def target():
        result["value"] = asyncio.run(coroutine)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return result["value"]


class Django:
    """Stands in for Django behind the wrapper: notes that it was asked."""

    def __init__(self):
        self.called = False

    async def __call__(self, scope, receive, send):
        self.called = True
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _get(slug: str, *, query: str = "", headers: dict[str, str] | None = None) -> tuple[Django, int, dict]:
    inner = Django()
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": f"/live/{slug}/events", "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    _run(sse.wrap(inner)(scope, receive, send))
    start = sent[0]
    return inner, start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def _django_redirect(slug: str, **headers) -> str | None:
    response = _run(AsyncClient().get(f"/live/{slug}/events", headers=headers))
    return response.headers.get("X-Accel-Redirect")


def test_a_resume_nchan_can_serve_is_answered_before_django_with_djangos_own_redirect(blog):
    headers = {"X-Liveblog-Handoff": HANDOFF, "Last-Event-ID": str(blog.last_seq - 1)}
    expected = _django_redirect(blog.slug, **headers)  # also warms the blog's cached state
    assert expected and expected.startswith(f"{HANDOFF}{blog.slug}?mid=")
    inner, status, answer = _get(blog.slug, headers=headers)
    assert not inner.called
    assert status == 200
    assert answer["x-accel-redirect"] == expected
    assert answer["content-type"] == "text/event-stream; charset=utf-8"
    # The page's own resume names its seq in the query string.
    inner, _, answer = _get(blog.slug, query=f"last_event_id={blog.last_seq - 1}", headers={"X-Liveblog-Handoff": HANDOFF})
    assert not inner.called and answer["x-accel-redirect"] == expected


@pytest.mark.parametrize(
    ("why", "query", "headers"),
    [
        ("no nginx in front", "", {"Last-Event-ID": "2"}),
        ("a fresh stream", "", {"X-Liveblog-Handoff": HANDOFF}),
        ("not a seq: Django's 400", "", {"X-Liveblog-Handoff": HANDOFF, "Last-Event-ID": "two"}),
        ("a conditional request Nchan would read", "", {"X-Liveblog-Handoff": HANDOFF, "Last-Event-ID": "2", "If-None-Match": '"1"'}),
        ("the desk's own stream", "desk=1", {"X-Liveblog-Handoff": HANDOFF, "Last-Event-ID": "2"}),
        ("ahead of the blog: Django asks the database", "", {"X-Liveblog-Handoff": HANDOFF, "Last-Event-ID": "99"}),
    ],
)
def test_anything_else_reaches_django(blog, why, query, headers):
    sse._blog_state(blog.slug)
    inner, _, _ = _get(blog.slug, query=query, headers=headers)
    assert inner.called, why


def test_an_unknown_blog_a_cold_cache_a_closed_blog_and_polling_mode_reach_django(blog, editor, reporter):
    headers = {"X-Liveblog-Handoff": HANDOFF, "Last-Event-ID": str(blog.last_seq - 1)}
    assert _get("no-such-blog", headers=headers)[0].called
    assert _get(blog.slug, headers=headers)[0].called  # the blog's state is not cached yet
    sse._blog_state(blog.slug)
    assert not _get(blog.slug, headers=headers)[0].called
    pushmode.switch(pushmode.POLL, blog.slug)
    try:
        assert _get(blog.slug, headers=headers)[0].called
    finally:
        pushmode.switch(None, blog.slug)
    services.blog_close(blog=blog, user=editor, body="That is all for tonight.")
    sse._blog_state(blog.slug)
    assert _get(blog.slug, headers=headers)[0].called
