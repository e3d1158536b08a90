"""Helpers for the fan-out tests: a small SSE client, local HTTP servers
playing partners, push services and hubs, and a real Celery worker."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
TEST_BROKER_URL = os.environ.get("LIVEBLOG_TEST_BROKER_URL", "redis://127.0.0.1:6379/2")


# --- SSE -------------------------------------------------------------------------


@dataclass
class SSEMessage:
    id: str | None = None
    event: str | None = None
    data: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> dict:
        return json.loads(self.data)


class SSEClient:
    """Reads one SSE stream line by line (blocking, with a socket timeout)."""

    def __init__(self, url: str, *, last_event_id: str | None = None, timeout: float = 5.0):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}

    def next(self) -> SSEMessage | None:
        """The next block (message or comments); None at the end of the stream."""
        message = SSEMessage()
        saw_any = False
        while True:
            line = self.response.readline()
            if not line:
                return message if saw_any else None
            line = line.decode().rstrip("\r\n")
            if line == "":
                if saw_any:
                    return message
                continue
            saw_any = True
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                message.comments.append(value)
            elif name == "id":
                message.id = value
            elif name == "event":
                message.event = value
            elif name == "data":
                message.data = f"{message.data}\n{value}" if message.data else value
            elif name == "retry":
                message.retry = int(value)

    def messages(self, count: int) -> list[SSEMessage]:
        """The next ``count`` event messages (skipping comment-only blocks)."""
        found = []
        while len(found) < count:
            block = self.next()
            if block is None:
                break
            if block.event is not None:
                found.append(block)
        return found

    def rest(self) -> list[SSEMessage]:
        """Every event message until the server ends the stream."""
        found = []
        while (block := self.next()) is not None:
            if block.event is not None:
                found.append(block)
        return found

    def close(self) -> None:
        self.conn.close()


# --- Local HTTP servers -------------------------------------------------------------


@dataclass
class Recorded:
    path: str
    headers: dict
    body: bytes


class Recorder:
    """A local HTTP server that records requests and answers by a rule.

    ``respond(recorded) -> (status, delay_seconds)``; default ``(200, 0)``.
    """

    def __init__(self, respond=None):
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.respond = respond or (lambda rec: (200, 0))
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                rec = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with recorder.lock:
                    recorder.requests.append(rec)
                status, delay = recorder.respond(rec)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until(check, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --- A real Celery worker -------------------------------------------------------------


def worker_env(**extra: str) -> dict:
    """Environment for a worker subprocess: the test database, the test
    broker, private partners allowed, fast retries."""
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env.update(
        REDIS_URL=TEST_BROKER_URL,
        CELERY_BROKER_URL=TEST_BROKER_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        LIVEBLOG_CHANNEL_BACKEND="redis",
        LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE="1",
        LIVEBLOG_SWEEP_SECONDS="1",
        LIVEBLOG_SWEEP_GRACE_SECONDS="1",
        LIVEBLOG_WEBHOOK_BACKOFF_BASE="0.5",
        LIVEBLOG_WEBHOOK_BACKOFF_CAP="2",
        LIVEBLOG_SITE_URL=settings.LIVEBLOG_SITE_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextmanager
def celery_worker(
    name: str, *, beat: bool = True, log_path: Path | None = None, concurrency: int = 1, **env: str
):
    """``celery -A liveblog worker`` in a subprocess (solo pool, so SIGKILL
    kills the very process doing the work; prefork with ``concurrency`` > 1,
    tasks then run side by side); killed on exit."""
    log_path = log_path or Path(f"/tmp/fanout-worker-{name}-{os.getpid()}.log")
    pool = ["-P", "solo", "-c", "1"] if concurrency == 1 else ["-P", "prefork", "-c", str(concurrency)]
    cmd = [
        sys.executable, "-m", "celery", "-A", "liveblog", "worker", *pool,
        "-n", f"{name}-{os.getpid()}@%h", "--without-mingle", "--without-gossip", "-l", "INFO",
    ]
    if beat:
        cmd += ["-B", "-s", f"/tmp/fanout-beat-{name}-{os.getpid()}"]
    connection.close()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=worker_env(**env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    process.log_path = log_path
    try:
        yield process
    finally:
        kill_group(process)
        for leftover in Path("/tmp").glob(f"fanout-beat-{name}-{os.getpid()}*"):
            leftover.unlink(missing_ok=True)
        log_path.unlink(missing_ok=True)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the worker and everything it started (the embedded beat)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@contextmanager
def real_broker():
    """Send tasks from this process to the test broker instead of running them
    eagerly; restores eager mode afterwards."""
    from liveblog.celery import app

    def reconnect():
        app.close()
        app.amqp._producer_pool = None  # close() keeps it when no pool was open

    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = TEST_BROKER_URL
    reconnect()
    try:
        yield app
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved
        reconnect()


def purge_test_broker() -> None:
    import redis

    redis.Redis.from_url(TEST_BROKER_URL).delete("celery", "unacked", "unacked_index")
