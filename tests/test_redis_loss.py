"""A lost Redis delays pushes but loses none, and never costs a reader a 500.

Against a real ``redis-server`` started on a free port for each test and
then stopped: every public read answers 200 with what the database holds
(marked ``X-Read-Cache: off``, with a short ``Cache-Control``), an API
publish answers 201 at once (the fan-out hand-off gives up quickly and
leaves the event to the sweep), and once Redis is back the reads are cached
again.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest
import redis

from posts.delivery import cache, channel, fanout
from posts.domain.models import Entry, Event
from posts.web import caching

from .factories import make_entry

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One private ``redis-server`` (no persistence) that a test can stop
    and start again on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", "/tmp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_cache(settings, redis_server, monkeypatch):
    """The read cache (and, in the production profile, the live channel) on
    the private Redis; a fresh circuit breaker that retries quickly."""
    settings.CACHES = {
        "default": {
            "BACKEND": "liveblog.redis_pool.RedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": "resilience",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5},
        }
    }
    if settings.LIVEBLOG_CHANNEL_BACKEND == "redis":
        settings.REDIS_URL = redis_server.url
    monkeypatch.setattr(cache, "_outage", cache._Outage())
    monkeypatch.setattr(cache, "RETRY_AFTER_SECONDS", 0.2)
    yield redis_server
    backend = channel._backends.pop(("redis", redis_server.url), None)
    if backend is not None:  # this test's channel listener: stop retrying a gone server
        backend.stop()


@contextmanager
def celery_broker(url: str):
    """Tasks go to a real broker at ``url`` (not run in-process) meanwhile."""
    from liveblog.celery import app

    # Celery caches its connection and producer pools: set them aside (not
    # closed, kombu shares them process-wide) and put them back afterwards.
    saved = app._pool, app.amqp._producer_pool, app.conf.broker_url, app.conf.task_always_eager
    app._pool, app.amqp._producer_pool = None, None
    app.conf.broker_url, app.conf.task_always_eager = url, False
    try:
        yield
    finally:
        app._pool, app.amqp._producer_pool, app.conf.broker_url, app.conf.task_always_eager = saved


def public_reads(slug: str, entry_id: int) -> list[str]:
    return [
        "/",
        f"/live/{slug}/",
        f"/live/{slug}/entries/{entry_id}/",
        f"/live/{slug}/feed.rss",
        f"/live/{slug}/feed.atom",
        f"/live/{slug}/feed.json",
        "/api/blogs",
        f"/api/blogs/{slug}",
        f"/api/blogs/{slug}/entries",
        f"/api/blogs/{slug}/updates?since=0",
    ]


@pytest.fixture
def entry(blog, reporter):
    return make_entry(blog=blog, user=reporter, body="Turnout is *high*", headline="Turnout", key_event=True)


def test_every_public_read_is_served_from_the_database_while_redis_is_down(client, redis_cache, blog, entry):
    urls = public_reads(blog.slug, entry.pk)
    for url in urls:  # warm the cache
        client.get(url)
        assert client.get(url)[caching.READ_CACHE_HEADER] == "hit", url

    redis_cache.stop()
    # Changed in the database only: the fan-out cannot tell the cache.
    blog.refresh_from_db()
    blog.title = "Election night, the count"
    blog.save(update_fields=["title"])
    Entry.objects.filter(pk=entry.pk).update(headline="Turnout at 70%")

    for url in urls:
        started = time.monotonic()
        response = client.get(url)
        assert response.status_code == 200, url
        assert time.monotonic() - started < 1, url
        assert response[caching.READ_CACHE_HEADER] == "off", url
        assert response["Cache-Control"] == caching.DEGRADED_CACHE_CONTROL, url
        assert response["ETag"].startswith('W/"'), url
        body = response.content.decode()
        if not url.startswith((f"/api/blogs/{blog.slug}/entries", f"/api/blogs/{blog.slug}/updates")):
            assert "Election night, the count" in body, url
        if url not in ("/", "/api/blogs") and "/updates" not in url:
            assert "Turnout at 70%" in body, url

    updates = client.get(f"/api/blogs/{blog.slug}/updates?since=0").json()
    assert updates["seq"] == blog.last_seq
    assert [e["seq"] for e in updates["events"]] == list(range(1, blog.last_seq + 1))
    # Conditional requests still work: the ETag comes from the database's seq.
    page = client.get(f"/live/{blog.slug}/")
    assert client.get(f"/live/{blog.slug}/", HTTP_IF_NONE_MATCH=page["ETag"]).status_code == 304
    assert isinstance(channel.reader_count(blog.slug), int)


def test_an_api_publish_succeeds_at_once_and_shows_while_redis_is_down(client, redis_cache, blog, reporter):
    from posts.domain import services

    _, key = services.token_create(user=reporter)
    blog.refresh_from_db()
    client.get(f"/live/{blog.slug}/")  # cached before the outage
    redis_cache.stop()

    with celery_broker(redis_cache.url):  # the broker is the lost Redis too
        started = time.monotonic()
        response = client.post(
            f"/api/blogs/{blog.slug}/entries",
            data=json.dumps({"body": "Counting has *started*", "headline": "Count begins"}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        took = time.monotonic() - started
    assert response.status_code == 201, response.content
    assert took < 2
    entry_id = response.json()["id"]

    event = Event.objects.get(blog=blog, seq=blog.last_seq + 1)
    assert event.fanned_out_at is None  # left to the sweep, not lost
    assert fanout.unconfirmed_event_ids(older_than=0) == [event.pk]

    updates = client.get(f"/api/blogs/{blog.slug}/updates?since={blog.last_seq}").json()
    assert [(e["type"], e["entry"]["id"]) for e in updates["events"]] == [("entry.published", entry_id)]
    page = client.get(f"/live/{blog.slug}/").content.decode()
    assert f'id="entry-{entry_id}"' in page and "Count begins" in page


def test_caching_resumes_when_redis_comes_back(client, redis_cache, blog, entry, django_assert_num_queries):
    url = f"/api/blogs/{blog.slug}/updates?since=0"
    redis_cache.stop()
    assert client.get(url)[caching.READ_CACHE_HEADER] == "off"
    assert client.get(url)[caching.READ_CACHE_HEADER] == "off"

    redis_cache.start()  # same port, empty
    time.sleep(cache.RETRY_AFTER_SECONDS + 0.05)
    first = client.get(url)
    assert first.status_code == 200
    assert first[caching.READ_CACHE_HEADER] == "miss"
    assert first["Cache-Control"] == caching.PAGE_CACHE_CONTROL
    with django_assert_num_queries(0):
        again = client.get(url)
    assert again[caching.READ_CACHE_HEADER] == "hit"
    assert again.content == first.content
    for page in (f"/live/{blog.slug}/", "/"):
        client.get(page)
        with django_assert_num_queries(0):
            assert client.get(page)[caching.READ_CACHE_HEADER] == "hit"


def test_a_lost_redis_is_logged_once_not_per_request(client, redis_cache, blog, entry, caplog):
    redis_cache.stop()
    with caplog.at_level("WARNING", logger="posts.web.caching"):
        for _ in range(5):
            time.sleep(cache.RETRY_AFTER_SECONDS)  # each request tries Redis again
            assert client.get(f"/live/{blog.slug}/").status_code == 200
    warnings = [r for r in caplog.records if r.name == "posts.delivery.cache" and "unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_the_live_stream_replays_from_the_database_while_redis_is_down(live_url, redis_cache, blog, entry):
    import requests

    blog.refresh_from_db()
    redis_cache.stop()
    with requests.get(f"{live_url}/live/{blog.slug}/events?last_event_id=0", stream=True, timeout=5) as response:
        assert response.status_code == 200
        received = b""
        for chunk in response.iter_content(chunk_size=None):
            received += chunk
            if f"id: {blog.last_seq}\n".encode() in received:
                break
    assert b"event: entry.published" in received and b"Turnout" in received
