"""The public contract, played against each server as a partner's client or a
reader's browser would: the embedded server (uvicorn in a thread, SQLite or
PostgreSQL, in-process channel and Celery) and, in the PostgreSQL pass, the
production profile (nginx micro-cache + Nchan, uvicorn processes, Celery
worker and beat, Redis). One test, two servers: ``server`` is parametrized
by tests/conftest.py's ``CONTRACT_SERVERS`` and the run's summary says which
ran. Everything goes over HTTP; blogs are made through the write API.
"""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from standardwebhooks.webhooks import Webhook

from . import conftest
from .fanout_support import Recorder

# A quiet URL read once this long after a commit shows it (deploy/README.md,
# "Freshness"): nginx keeps an entry 1-2 s, the fan-out moves the app's own
# cache within milliseconds.
FRESH_AFTER = 3.0


@dataclass
class Server:
    name: str
    base_url: str
    token: str
    publish_url: str = ""

    @property
    def port(self) -> int:
        return urlsplit(self.base_url).port

    def call(self, method: str, path: str, body=None, *, auth: bool = False, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        hdrs = dict(headers or {})
        if auth:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def write(self, method: str, path: str, body=None, expect: int = 200) -> dict:
        status, _, data = self.call(method, path, body, auth=True)
        assert status == expect, (status, data)
        return json.loads(data) if data else {}

    def new_blog(self) -> str:
        slug = f"c-{uuid.uuid4().hex[:10]}"
        self.write("POST", "/api/blogs", {"title": "Contract night", "slug": slug, "status": "live"}, expect=201)
        return slug

    def publish(self, slug: str, body: str, **fields) -> dict:
        return self.write("POST", f"/api/blogs/{slug}/entries", {"body": body, **fields}, expect=201)

    def seq(self, slug: str, at_least: int = 0, timeout: float = 10) -> int:
        """The blog's seq as the app has it (a token bypasses nginx's
        cache), once it reached ``at_least`` (the fan-out moved it)."""
        deadline = time.monotonic() + timeout
        while True:
            status, _, data = self.call("GET", f"/api/blogs/{slug}", auth=True)
            assert status == 200, data
            seq = json.loads(data)["seq"]
            if seq >= at_least or time.monotonic() > deadline:
                return seq
            time.sleep(0.05)

    def nchan_readers(self, slug: str) -> int:
        parts = urlsplit(self.publish_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            conn.request("GET", f"{parts.path}/{slug}", headers={"Accept": "text/json"})
            resp = conn.getresponse()
            body = resp.read()
            return int(json.loads(body)["subscribers"]) if resp.status == 200 else 0
        finally:
            conn.close()


@pytest.fixture(params=conftest.CONTRACT_SERVERS)
def server(request, live_url, settings) -> Server:
    """(``live_url`` is named here for both: pytest-django sets up the test
    database only for database fixtures named in a signature.)"""
    conftest.servers_run.add(request.param)
    print(f"contract: {request.node.name} against the {request.param} server")
    if request.param == "production":
        profile = request.getfixturevalue("production_profile")
        return Server("production", profile.base_url, profile.token, profile.publish_url)
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    out = io.StringIO()
    call_command("create_api_token", "contract-editor", "--role", "editor", stdout=out)
    return Server("embedded", live_url, out.getvalue().strip().splitlines()[-1])


# --- SSE as a browser's EventSource reads it -----------------------------------------


@dataclass
class Connection:
    status: int
    engine: str  # "nchan" or "app"


@dataclass
class EventSource:
    """Reads ``/live/<slug>/events`` like a browser: follows ``retry:``, and
    when the server ends the stream reconnects with the ``Last-Event-ID``
    header (keeping the URL it was opened with, query and all)."""

    server: Server
    path: str
    last_event_id: str | None = None
    events: list[dict] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    retry_ms: int = 3000

    def __post_init__(self) -> None:
        self._sock = None
        self._buffer = b""
        self._lines: list[str] = []
        self._connect()

    def _connect(self) -> None:
        import socket

        self._sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=15)
        extra = f"Last-Event-ID: {self.last_event_id}\r\n" if self.last_event_id is not None else ""
        self._sock.sendall(
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}"
            "Connection: close\r\n\r\n".encode()
        )
        head = self._read_until(b"\r\n\r\n")
        head, self._buffer = head.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}
        self.connections.append(Connection(int(status_line.split()[1]), headers.get("x-push-engine", "app")))
        self._chunked = headers.get("transfer-encoding") == "chunked"
        self._raw = self._buffer
        self._buffer = b""
        self._seen_blocks = 0

    def _read_until(self, needle: bytes) -> bytes:
        data = b""
        while needle not in data:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before {needle!r}: {data!r}")
            data += chunk
        return data

    def _body_more(self, timeout: float) -> bool:
        """Read more of the body; False at its end."""
        self._sock.settimeout(timeout)
        chunk = self._sock.recv(65536)
        if not chunk:
            return False
        self._raw += chunk
        return True

    def _decoded(self) -> tuple[str, bool]:
        """The body so far as text, and whether its end was seen."""
        if not self._chunked:
            return self._raw.decode(), False
        out, rest, ended = b"", self._raw, False
        while b"\r\n" in rest:
            size_line, after = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                ended = True
                break
            if len(after) < size + 2:
                break
            out += after[:size]
            rest = after[size + 2:]
        return out.decode(), ended

    def read_until(self, done, timeout: float = 15) -> list[dict]:
        """Events until ``done(events)`` holds, reconnecting as a browser does."""
        deadline = time.monotonic() + timeout
        while not done(self.events):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out with {[e['seq'] for e in self.events]}"
            text, ended = self._decoded()
            blocks = text.split("\n\n")
            complete = blocks[:-1]
            for block in complete[self._seen_blocks:]:
                self._take(block)
            self._seen_blocks = len(complete)
            if done(self.events):
                break
            try:
                more = self._body_more(min(remaining, 1.0))
            except TimeoutError:
                continue
            if not more or ended:
                self._sock.close()
                time.sleep(self.retry_ms / 1000)
                self._connect()
        return self.events

    def _take(self, block: str) -> None:
        event = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "retry":
                self.retry_ms = int(value)
            elif name in ("id", "event", "data"):
                event[name] = value
        if "data" in event:
            data = json.loads(event["data"])
            assert event["id"] == str(data["seq"]) and event["event"] == data["type"]
            self.last_event_id = event["id"]
            self.events.append(data)

    def close(self) -> None:
        self._sock.close()


def seqs(events: list[dict]) -> list[int]:
    return [e["seq"] for e in events]


def has_body(marker: str):
    return lambda events: any(marker in (e.get("entry") or {}).get("body", "") for e in events)


# --- API ----------------------------------------------------------------------------------


def test_the_api_reads_and_writes_a_blog(server):
    slug = server.new_blog()
    first = server.publish(slug, "Polls open.", headline="Start")
    second = server.publish(slug, "Turnout is **high**.", key_event=True)
    status, _, data = server.call("GET", f"/api/blogs/{slug}/entries?limit=1")
    page = json.loads(data)
    assert status == 200 and [e["id"] for e in page["items"]] == [second["id"]] and page["next"]
    status, _, data = server.call("GET", f"/api/blogs/{slug}/entries?limit=1&before={page['next']}")
    assert [e["id"] for e in json.loads(data)["items"]] == [first["id"]]
    edited = server.write(
        "PATCH", f"/api/blogs/{slug}/entries/{first['id']}", {"body": "Polls opened.", "version": first["version"]}
    )
    assert edited["version"] == first["version"] + 1 and edited["body"] == "Polls opened."
    status, _, data = server.call(
        "PATCH", f"/api/blogs/{slug}/entries/{first['id']}", {"body": "Lost edit", "version": first["version"]},
        auth=True,
    )
    assert status == 409 and "detail" in json.loads(data)
    status, _, data = server.call("POST", f"/api/blogs/{slug}/entries", {"body": "x"})
    assert status == 401 and "detail" in json.loads(data)
    server.write("DELETE", f"/api/blogs/{slug}/entries/{second['id']}", expect=204)
    status, _, data = server.call("GET", f"/api/blogs/{slug}/entries/{second['id']}")
    assert status in (404, 410) and "detail" in json.loads(data)
    detail = server.write("GET", f"/api/blogs/{slug}")
    assert detail["key_events"] == [] and detail["seq"] >= 4


def test_a_quiet_url_read_seconds_after_a_write_shows_it(server):
    """However quiet the URL, one read FRESH_AFTER seconds after a commit
    shows it: the blog detail, /updates, the page and each feed."""
    slug = server.new_blog()
    server.publish(slug, "Doors open.")
    urls = {
        "detail": f"/api/blogs/{slug}",
        "updates": f"/api/blogs/{slug}/updates?since=0",
        "page": f"/live/{slug}/",
        "rss": f"/live/{slug}/feed.rss",
        "atom": f"/live/{slug}/feed.atom",
        "json": f"/live/{slug}/feed.json",
    }
    for path in urls.values():  # each read once: now in every cache
        assert server.call("GET", path)[0] == 200
    marker = uuid.uuid4().hex
    entry = server.publish(slug, f"Result {marker}", pinned=True)
    time.sleep(FRESH_AFTER)
    reads = {name: server.call("GET", path) for name, path in urls.items()}
    assert all(status == 200 for status, _, _ in reads.values()), {k: v[0] for k, v in reads.items()}
    assert json.loads(reads["detail"][2])["pinned"]["id"] == entry["id"]
    updates = json.loads(reads["updates"][2])
    assert any((e.get("entry") or {}).get("id") == entry["id"] for e in updates["events"])
    assert f'id="entry-{entry["id"]}"'.encode() in reads["page"][2]
    for feed in ("rss", "atom", "json"):
        assert marker.encode() in reads[feed][2], (feed, reads[feed][1].get("x-cache"))


# --- SSE --------------------------------------------------------------------------------


def test_a_new_stream_gets_each_event_as_it_is_published(server):
    slug = server.new_blog()
    stream = EventSource(server, f"/live/{slug}/events")
    try:
        assert stream.connections[0].status == 200
        if server.name == "production":
            assert stream.connections[0].engine == "nchan"
        marker = uuid.uuid4().hex
        entry = server.publish(slug, f"Live {marker}")
        events = stream.read_until(has_body(marker))
    finally:
        stream.close()
    assert events[-1]["type"] == "entry.published" and events[-1]["entry"]["id"] == entry["id"]
    assert events[-1]["seq"] == server.seq(slug, at_least=events[-1]["seq"])


@pytest.mark.parametrize("form", ["header", "query"])
def test_a_resumed_stream_gets_exactly_what_it_missed_then_live(server, form):
    slug = server.new_blog()
    server.publish(slug, "Before")
    last = server.seq(slug, at_least=2)
    for i in range(3):
        server.publish(slug, f"Missed {i}")
    path = f"/live/{slug}/events"
    if form == "query":
        stream = EventSource(server, f"{path}?last_event_id={last}")
    else:
        stream = EventSource(server, path, last_event_id=str(last))
    try:
        stream.read_until(lambda events: len(events) >= 3)
        marker = uuid.uuid4().hex
        server.publish(slug, f"After {marker}")
        events = stream.read_until(has_body(marker))
    finally:
        stream.close()
    assert seqs(events) == list(range(last + 1, last + 5))
    assert [e["entry"]["body"] for e in events[:3]] == ["Missed 0", "Missed 1", "Missed 2"]
    if server.name == "production":
        assert stream.connections[-1].engine == "nchan"


def test_resuming_while_entries_are_published_loses_and_repeats_nothing(server):
    """Readers resume from several points while a reporter publishes; each
    gets every seq after its own once, in order (the production profile
    hands each to Nchan, publishes landing during the hand-off included)."""
    slug = server.new_blog()
    for i in range(4):
        server.publish(slug, f"Earlier {i}")
    latest = server.seq(slug, at_least=5)
    starts = [latest, latest, latest - 1, latest - 3, 0, latest]
    final = uuid.uuid4().hex
    errors: list[BaseException] = []

    def publish_burst():
        try:
            for i in range(12):
                server.publish(slug, f"Burst {i}")
                time.sleep(0.05)
            server.publish(slug, f"Final {final}")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    publisher = threading.Thread(target=publish_burst)
    publisher.start()
    readers = []
    try:
        for n, start in enumerate(starts):
            path = f"/live/{slug}/events"
            if n % 2:
                readers.append(EventSource(server, path, last_event_id=str(start)))
            else:
                readers.append(EventSource(server, f"{path}?last_event_id={start}"))
            time.sleep(0.07)
        results = [reader.read_until(has_body(final), timeout=30) for reader in readers]
        publisher.join(timeout=30)
        assert not errors, errors
        if server.name == "production":
            assert all(r.connections[-1].engine == "nchan" for r in readers), [r.connections for r in readers]
            assert server.nchan_readers(slug) >= 1
    finally:
        for reader in readers:
            reader.close()
        publisher.join(timeout=30)
    for start, events in zip(starts, results, strict=True):
        assert seqs(events) == list(range(start + 1, events[-1]["seq"] + 1)), (start, seqs(events))


# --- Webhooks --------------------------------------------------------------------------


def test_a_partner_gets_each_event_signed(server):
    partner = Recorder()
    try:
        slug = server.new_blog()
        created = server.write("POST", "/api/webhooks", {"url": f"{partner.url}/hook", "blogs": [slug]}, expect=201)
        marker = uuid.uuid4().hex
        entry = server.publish(slug, f"For partners {marker}")
        deadline = time.monotonic() + 30
        while not (got := [r for r in partner.wait_for(1, timeout=1) if marker.encode() in r.body]):
            assert time.monotonic() < deadline, [r.body[:200] for r in partner.requests]
            time.sleep(0.1)
        payload = Webhook(created["secret"]).verify(got[0].body.decode(), got[0].headers)
        assert payload["type"] == "entry.published" and payload["data"]["entry"]["id"] == entry["id"]
        assert got[0].headers["webhook-id"]
    finally:
        partner.close()


# --- The reader's page in a browser ------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_the_reader_page_follows_the_blog_live(server, browser, viewport):
    slug = server.new_blog()
    server.publish(slug, "Doors open.")
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{server.base_url}/live/{slug}/")
        page.evaluate("window.__sameDocument = true")
        entry = server.publish(slug, "Exit poll: **too close** to call.", headline="Exit poll")
        article = page.locator(f"#entry-{entry['id']}")
        article.wait_for()
        assert "too close" in article.inner_text()
        server.write(
            "PATCH", f"/api/blogs/{slug}/entries/{entry['id']}",
            {"body": "Exit poll: narrow lead.", "version": entry["version"]},
        )
        # A function, not a string: the page's CSP refuses eval.
        page.wait_for_function(
            "id => document.querySelector('#entry-' + id)?.innerText.includes('narrow lead')", arg=entry["id"]
        )
        server.write("DELETE", f"/api/blogs/{slug}/entries/{entry['id']}", expect=204)
        article.wait_for(state="detached")
        assert page.evaluate("window.__sameDocument === true")
    finally:
        context.close()


def test_a_write_retried_with_its_idempotency_key_writes_once(server):
    slug = server.new_blog()
    body = {"body": f"Once {uuid.uuid4().hex}"}
    path = f"/api/blogs/{slug}/entries"
    first = server.call("POST", path, body, auth=True, headers={"Idempotency-Key": "contract-1"})
    again = server.call("POST", path, body, auth=True, headers={"Idempotency-Key": "contract-1"})
    other = server.call("POST", path, {"body": "Else"}, auth=True, headers={"Idempotency-Key": "contract-1"})
    assert first[0] == again[0] == 201 and again[2] == first[2]
    assert again[1]["idempotent-replayed"] == "true"
    assert other[0] == 422 and json.loads(other[2])["code"] == "idempotency_key_reused"
    status, _, data = server.call("GET", f"/api/blogs/{slug}/entries", auth=True)
    assert [e["body"] for e in json.loads(data)["items"]].count(body["body"]) == 1
