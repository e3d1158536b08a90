"""Poll votes counted in Redis (docs/polls.md): running totals, flushed to
the database, surviving a restart of Redis and of the app without losing or
doubling a vote. Each test runs a redis-server of its own on a free port
(it is killed and restarted), never the machine's."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis as redis_lib

from posts.domain import polls, services
from posts.domain.errors import ServiceError
from posts.domain.models import PollOption
from tests.factories import make_entry

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server with its own port and data directory (AOF, fsync always)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="polls-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis_lib.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except redis_lib.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)  # no shutdown save: only the AOF remains
            self.proc.wait(10)

    def wipe(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()


@pytest.fixture
def own_redis(settings):
    server = OwnRedis()
    server.start()
    settings.REDIS_URL = server.url  # the vote counter's Redis; the rest of the app is unchanged
    polls._clients.clear()
    polls._meta.clear()
    yield server
    server.kill()
    shutil.rmtree(server.dir, ignore_errors=True)
    polls._clients.clear()
    polls._meta.clear()


def _app_restarts() -> None:
    """What a new app process starts with: no client, no cached poll metadata."""
    polls._clients.clear()
    polls._meta.clear()


def _votes(blog, poll, option, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=option.pk, address=f"10.9.{i // 250}.{i % 250}")


def _db_totals(poll) -> dict[int, int]:
    return dict(PollOption.objects.filter(poll=poll).values_list("pk", "votes"))


def test_votes_survive_a_flush_and_a_restart_of_redis_and_the_app(own_redis, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, poll={"question": "Who won?", "options": ["A", "B"]})
    poll = entry.poll
    a, b = poll.options.all()
    _votes(blog, poll, a, 30)
    _votes(blog, poll, b, 20, start=30)
    assert services.polls_flush() == [poll.pk]
    assert _db_totals(poll) == {a.pk: 30, b.pk: 20}
    _votes(blog, poll, a, 7, start=50)  # counted, not flushed yet

    own_redis.kill()
    _app_restarts()
    own_redis.start()  # the same data directory: the AOF brings the totals back

    assert polls.running_totals(poll) == {a.pk: 37, b.pk: 20}
    assert services.polls_flush() == [poll.pk]
    assert _db_totals(poll) == {a.pk: 37, b.pk: 20}
    assert services.polls_flush() == []  # a second flush neither adds nor loses
    assert _db_totals(poll) == {a.pk: 37, b.pk: 20}


def test_a_redis_that_lost_everything_starts_again_from_the_flushed_totals(own_redis, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, poll={"question": "Who won?", "options": ["A", "B"]})
    poll = entry.poll
    a, b = poll.options.all()
    _votes(blog, poll, a, 12)
    services.polls_flush()
    own_redis.kill()
    own_redis.wipe()
    _app_restarts()
    own_redis.start()
    _votes(blog, poll, b, 1, start=100)  # seeds the totals from the database, then counts
    assert polls.running_totals(poll) == {a.pk: 12, b.pk: 1}
    services.polls_flush()
    assert _db_totals(poll) == {a.pk: 12, b.pk: 1}


def test_concurrent_votes_and_flushes_count_exactly_the_votes_accepted(
    own_redis, transactional_db, blog, reporter, settings
):
    settings.LIVEBLOG_POLL_VOTES_PER_ADDRESS = 10**6
    entry = make_entry(blog=blog, user=reporter, poll={"question": "Who won?", "options": ["A", "B", "C"]})
    poll = entry.poll
    options = list(poll.options.all())
    accepted = []
    stop = threading.Event()

    def voter(n: int) -> None:
        from django.db import connection

        done = 0
        for i in range(200):
            services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=options[(n + i) % 3].pk, address="10.8.0.1")
            done += 1
        accepted.append(done)
        connection.close()

    def flusher() -> None:
        from django.db import connection

        while not stop.is_set():
            services.polls_flush()
        connection.close()

    threads = [threading.Thread(target=voter, args=(n,)) for n in range(4)]
    flushing = threading.Thread(target=flusher)
    flushing.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    flushing.join()
    services.polls_flush()
    assert sum(_db_totals(poll).values()) == sum(accepted) == 800


def test_closing_in_redis_refuses_later_votes_and_keeps_the_frozen_total(own_redis, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, poll={"question": "Who won?", "options": ["A", "B"]})
    poll = entry.poll
    a, _b = poll.options.all()
    _votes(blog, poll, a, 5)
    services.poll_close(poll=poll, user=reporter)
    with pytest.raises(ServiceError):
        services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=a.pk, address="10.7.0.1")
    with pytest.raises(polls.Refused) as refused:
        # Straight at the counter, as a vote whose check raced the close would.
        polls.count_vote(poll_id=poll.pk, option_id=a.pk, address="10.7.0.1")
    assert refused.value.reason == "closed"
    poll.refresh_from_db()
    assert sum(polls.running_totals(poll).values()) == 5 and _db_totals(poll)[a.pk] == 5


def _asgi_post(app, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    import asyncio

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "testserver", **headers}.items()],
        "client": ("198.51.100.9", 50000), "server": ("testserver", 80),
    }
    messages = []
    given = []

    async def receive():
        if not given:
            given.append(True)
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # the client stays until the answer is sent

    async def send(message):
        messages.append(message)

    # On a thread of its own: Playwright's sync API may have left a loop on this one.
    failed: list[BaseException] = []

    def run() -> None:
        from django.db import connection

        try:
            asyncio.run(app(scope, receive, send))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failed.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    if failed:
        raise failed[0]
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    out: dict = {}
    for k, v in start["headers"]:
        out.setdefault(k.decode().lower(), []).append(v.decode())
    return start["status"], out, content


def test_the_asgi_hot_path_answers_a_json_vote_as_django_would(own_redis, transactional_db, blog, reporter, settings):
    import json as json_lib

    from liveblog.asgi import application
    from posts.web.polls import cookie_name

    settings.LIVEBLOG_EMBED_ORIGINS = []
    entry = make_entry(blog=blog, user=reporter, poll={"question": "Who won?", "options": ["A", "B"]})
    poll = entry.poll
    a, b = poll.options.all()
    path = f"/live/{blog.slug}/polls/{poll.pk}/vote"
    form = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    polls.poll_meta(poll.pk)  # as after the first vote of this process
    status, headers, content = _asgi_post(application, path, f"option={b.pk}".encode(), form)
    assert status == 200, content
    body = json_lib.loads(content)
    assert body["voted"] == b.pk and body["total"] == 1 and body["options"][1] == {"id": b.pk, "label": "B", "votes": 1}
    assert headers["cache-control"] == ["private, no-store"]
    [cookie] = headers["set-cookie"]
    assert cookie.startswith(f"{cookie_name(poll.pk)}={b.pk}:")  # signed (Django checks it below)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and f"Path=/live/{blog.slug}/polls/" in cookie

    assert "x-frame-options" in headers  # the poll's first vote seeds its totals: Django's answer
    status, headers, content = _asgi_post(application, path, f"option={a.pk}".encode(), form)
    assert status == 200 and json_lib.loads(content)["total"] == 2 and json_lib.loads(content)["voted"] == a.pk
    assert "x-frame-options" not in headers  # answered before Django, with its own cookie
    assert headers["set-cookie"][0].startswith(f"{cookie_name(poll.pk)}={a.pk}:")

    # What it does not answer itself, Django does: a repeat vote, a foreign origin, a form post.
    repeat = _asgi_post(application, path, f"option={a.pk}".encode(), {**form, "cookie": cookie.split(";")[0]})
    assert repeat[0] == 409 and json_lib.loads(repeat[2])["code"] == "already_voted"
    assert json_lib.loads(repeat[2])["voted"] == b.pk
    foreign = _asgi_post(application, path, f"option={a.pk}".encode(), {**form, "origin": "https://evil.example"})
    assert foreign[0] == 403 and json_lib.loads(foreign[2])["code"] == "forbidden_origin"
    page = _asgi_post(application, path, f"option={a.pk}".encode(), {**form, "accept": "text/html"})
    assert page[0] == 200 and b"your vote is counted" in page[2]
    assert sum(polls.running_totals(poll).values()) == 3
