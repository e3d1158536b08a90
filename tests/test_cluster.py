"""Drills on the cluster (deploy/cluster): nodes killed and restarted while
entries are published, each drill asserting that every committed event
reaches every reader exactly once (SSE ids) and every partner once
(webhook ids).

One cluster for the module, on free ports at 127.0.0.11-.53 (its own
PostgreSQL, PgBouncer and Redis; never the machine's). Marked ``cluster``:
``make cluster-test`` runs it, ``make test`` leaves it out (it takes a few
minutes). Every loop has a deadline.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from deploy.cluster import Cluster, ClusterOptions, free_port_block
from deploy.profile import ROOT
from tests.fanout_support import Recorder

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster():
    for old in (ROOT / ".run").glob("cluster-test-*"):
        shutil.rmtree(old, ignore_errors=True)
    port = free_port_block()
    opts = ClusterOptions(
        run_dir=ROOT / ".run" / f"cluster-test-{port}", port=port,
        heartbeat_seconds=1,
        extra_env={
            "LIVEBLOG_SSE_HEARTBEAT_SECONDS": "1",
            "LIVEBLOG_SWEEP_SECONDS": "1",
            "LIVEBLOG_SWEEP_GRACE_SECONDS": "2",
            "LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE": "1",
            "LIVEBLOG_WEBHOOK_BACKOFF_BASE": "1",
        },
    )
    with Cluster(opts) as c:
        env = dict(c.env, DATABASE_URL=opts.direct_database_url, LIVEBLOG_PGBOUNCER="0", DATABASE_POOL="0")
        c.token = subprocess.run(
            [sys.executable, "manage.py", "create_api_token", "drill-editor", "--role", "editor"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        yield c
        pids = [p.pid for p in c.procs.values()]
    for pid in pids:
        assert not _alive(pid), f"{pid} outlived the cluster"


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None, timeout=10):
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def stream_status(base: str, path: str) -> int:
    """The status of a stream's answer (then the stream is closed)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nAccept: text/event-stream\r\n\r\n".encode())
        line = b""
        while b"\r\n" not in line:
            chunk = sock.recv(1024)
            if not chunk:
                break
            line += chunk
    return int(line.split(b" ", 2)[1])


def new_blog(cluster) -> str:
    slug = f"drill-{uuid.uuid4().hex[:8]}"
    status, _, data = call(cluster.opts.base_url, "POST", "/api/blogs",
                           {"title": "Drill night", "slug": slug, "status": "live"}, cluster.token)
    assert status == 201, data
    return slug


def committed_seqs(cluster, slug: str, since: int) -> list[int]:
    """The blog's event seqs after ``since``, from the event log (read at
    an app node with a token: no cache in between)."""
    status, _, data = call(cluster.opts.url("app-2"), "GET", f"/api/blogs/{slug}/updates?since={since}&limit=500",
                           token=cluster.token)
    if status != 200:
        status, _, data = call(cluster.opts.url("app-1"), "GET", f"/api/blogs/{slug}/updates?since={since}&limit=500",
                               token=cluster.token)
    assert status == 200, data
    return [e["seq"] for e in json.loads(data)["events"]]


def latest_seq(cluster, slug: str) -> int:
    status, _, data = call(cluster.opts.url("app-1"), "GET", f"/api/blogs/{slug}", token=cluster.token)
    assert status == 200, data
    return json.loads(data)["seq"]


class Reader(threading.Thread):
    """An SSE reader that, like a browser, reconnects when its stream drops,
    sending ``Last-Event-ID`` (through ``reconnect_base``, the front door).
    Records every id it receives, duplicates included."""

    def __init__(self, base: str, slug: str, start_seq: int, reconnect_base: str | None = None, seconds=90):
        super().__init__(daemon=True)
        self.base, self.slug, self.last, self.start_seq = base, slug, start_seq, start_seq
        self.reconnect_base = reconnect_base or base
        self.ids: list[int] = []
        self.edges: list[str] = []
        self.connects = 0
        self.deadline = time.monotonic() + seconds
        self.stop = threading.Event()
        self.connected = threading.Event()

    def run(self):
        first = True
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            base = self.base if first else self.reconnect_base
            headers = "" if first else f"Last-Event-ID: {self.last}\r\n"
            first = False
            try:
                self._stream(base, headers)
            except OSError:
                pass
            if not self.stop.is_set():
                time.sleep(0.2)  # the client's retry delay (shortened)

    def _stream(self, base: str, extra: str) -> None:
        parts = urlsplit(base)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.sendall(
                f"GET /live/{self.slug}/events HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                f"Accept: text/event-stream\r\n{extra}\r\n".encode()
            )
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                return
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"x-edge:"):
                    self.edges.append(line.split(b":", 1)[1].strip().decode())
            self.connects += 1
            self.connected.set()
            sock.settimeout(1)
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                while b"\n\n" in buf:
                    frame, buf = buf.split(b"\n\n", 1)
                    for line in frame.split(b"\n"):
                        if line.startswith(b"id:"):
                            seq = int(line[3:].strip())
                            if seq <= self.start_seq:
                                # The blog's own earlier events, fanned out
                                # after this reader subscribed: a page
                                # already shows them (live.js drops them too).
                                continue
                            self.ids.append(seq)
                            self.last = max(self.last, seq)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                buf += chunk.replace(b"\r\n", b"\n")

    def finish(self):
        self.stop.set()
        self.join(timeout=5)


def wait_for_all(readers: list[Reader], expected: list[int], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(set(expected) <= set(r.ids) for r in readers):
            break
        time.sleep(0.1)
    time.sleep(0.5)  # anything duplicated would arrive now
    for r in readers:
        r.finish()
    for i, r in enumerate(readers):
        missing = sorted(set(expected) - set(r.ids))
        dupes = sorted({s for s in r.ids if r.ids.count(s) > 1})
        assert not missing, f"reader {i} ({r.edges}) missed {missing}"
        assert not dupes, f"reader {i} ({r.edges}) got {dupes} twice"
        assert set(r.ids) <= set(expected), f"reader {i} got unknown ids {sorted(set(r.ids) - set(expected))}"


def publish_burst(cluster, slug: str, count: int, base: str | None = None, pause: float = 0.05,
                  during=None, at: int | None = None) -> list[int]:
    """Post ``count`` entries (each retried until it is answered 201, within
    a deadline); calls ``during()`` before entry number ``at``. Returns the
    HTTP statuses seen."""
    base = base or cluster.opts.base_url
    statuses = []
    for n in range(count):
        if during is not None and n == at:
            during()
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _, _ = call(base, "POST", f"/api/blogs/{slug}/entries", {"body": f"Update {n}."},
                                    cluster.token)
            except OSError:
                status = 0
            statuses.append(status)
            if status == 201:
                break
            assert time.monotonic() < deadline, f"entry {n} not accepted: {statuses[-5:]}"
            time.sleep(0.2)
        time.sleep(pause)
    return statuses


def add_partner(cluster, slug: str, partner: Recorder) -> None:
    status, _, data = call(cluster.opts.base_url, "POST", "/api/webhooks",
                           {"url": f"{partner.url}/hook", "blogs": [slug]}, cluster.token)
    assert status == 201, data


def assert_partner_got_each_once(partner: Recorder, start: int, expected: list[int], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = {json.loads(r.body)["data"]["seq"] for r in partner.requests}
        if set(expected) <= got:
            break
        time.sleep(0.2)
    time.sleep(1)  # anything sent twice would arrive now
    # Events before ``start`` may reach the partner too (the blog's
    # creation was fanned out after the partner registered).
    received = [r for r in partner.requests if json.loads(r.body)["data"]["seq"] > start]
    ids = [r.headers["webhook-id"] for r in received]
    seqs = [json.loads(r.body)["data"]["seq"] for r in received]
    assert sorted(set(seqs)) == expected, f"a partner missed {sorted(set(expected) - set(seqs))}"
    assert len(ids) == len(set(ids)) == len(expected), f"a webhook was sent twice: {sorted(seqs)}"


def readers_on_both_edges(cluster, slug: str, start: int, count: int = 6) -> list[Reader]:
    front = cluster.opts.base_url
    readers = [Reader(front, slug, start) for _ in range(count)]
    for r in readers:
        r.start()
        assert r.connected.wait(10)
    assert {e for r in readers for e in r.edges} == {"edge-1", "edge-2"}, [r.edges for r in readers]
    return readers


# --- the drills ----------------------------------------------------------------


def test_a_reader_on_edge_2_receives_what_app_node_1_published(cluster):
    slug = new_blog(cluster)
    start = latest_seq(cluster, slug)
    reader = Reader(cluster.opts.url("edge-2"), slug, start, reconnect_base=cluster.opts.url("edge-2"))
    reader.start()
    assert reader.connected.wait(10)
    time.sleep(0.3)
    publish_burst(cluster, slug, 5, base=cluster.opts.url("app-1"))
    wait_for_all([reader], committed_seqs(cluster, slug, start))
    assert reader.edges == ["edge-2"] and reader.connects == 1


def test_an_edit_is_visible_through_every_cache_node_within_a_second(cluster):
    opts = cluster.opts
    slug = new_blog(cluster)
    start = latest_seq(cluster, slug)
    readers = readers_on_both_edges(cluster, slug, start, count=4)
    status, _, data = call(opts.base_url, "POST", f"/api/blogs/{slug}/entries", {"body": "Old wording."}, cluster.token)
    assert status == 201
    entry = json.loads(data)
    caches = [opts.url(f"cache-{i + 1}") for i in range(opts.caches)]
    page = f"/live/{slug}/"
    deadline = time.monotonic() + 10
    for base in caches:  # warm every node (the fan-out's purge may come first)
        while True:
            status, headers, body = call(base, "GET", page)
            if status == 200 and b"Old wording." in body and call(base, "GET", page)[1]["x-cache"] == "HIT":
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
    status, _, data = call(opts.base_url, "PATCH", f"/api/blogs/{slug}/entries/{entry['id']}",
                           {"body": "New wording.", "version": entry["version"]}, cluster.token)
    committed = time.monotonic()
    assert status == 200, data
    seen = {}
    while len(seen) < len(caches) and time.monotonic() < committed + 5:
        for base in caches:
            if base not in seen and b"New wording." in call(base, "GET", page)[2]:
                seen[base] = time.monotonic() - committed
        time.sleep(0.02)
    assert len(seen) == len(caches) and max(seen.values()) <= 1.0, seen
    # And no stale page after it, on any node nor through the front.
    for _ in range(20):
        for base in [*caches, opts.base_url]:
            body = call(base, "GET", page)[2]
            assert b"New wording." in body and b"Old wording." not in body
        time.sleep(0.05)
    # The publish and the edit reached every reader once.
    wait_for_all(readers, committed_seqs(cluster, slug, start))


def test_killing_an_edge_mid_burst_loses_no_event_for_its_readers(cluster):
    slug = new_blog(cluster)
    start = latest_seq(cluster, slug)
    readers = readers_on_both_edges(cluster, slug, start)
    try:
        publish_burst(cluster, slug, 20, during=lambda: cluster.kill("edge-1"), at=7)
        wait_for_all(readers, committed_seqs(cluster, slug, start))
    finally:
        cluster.start_node("edge-1")
    moved = [r for r in readers if r.edges[0] == "edge-1"]
    assert moved and all(r.connects >= 2 and r.edges[-1] == "edge-2" for r in moved)
    cluster.wait_ready(time.monotonic() + 30)


def test_killing_an_app_node_mid_burst_moves_writes_to_the_other(cluster):
    slug = new_blog(cluster)
    partner = Recorder()
    try:
        add_partner(cluster, slug, partner)
        start = latest_seq(cluster, slug)
        readers = readers_on_both_edges(cluster, slug, start)
        try:
            statuses = publish_burst(cluster, slug, 20, during=lambda: cluster.kill("app-1"), at=7)
            expected = committed_seqs(cluster, slug, start)
            wait_for_all(readers, expected)
            # Writes after the kill went to app-2: every one was answered.
            assert statuses.count(201) == 20 and len(expected) == 20
            assert all(s in (201, 502, 503, 504) for s in statuses), statuses
        finally:
            cluster.start_node("app-1")
        assert_partner_got_each_once(partner, start, expected)
    finally:
        partner.close()
    cluster.wait_ready(time.monotonic() + 30)


def test_celery_workers_killed_and_redis_restarted_the_sweep_resends(cluster):
    slug = new_blog(cluster)
    partner = Recorder()
    try:
        add_partner(cluster, slug, partner)
        start = latest_seq(cluster, slug)
        readers = readers_on_both_edges(cluster, slug, start)

        def outage():
            cluster.kill("worker-1")
            cluster.kill("worker-2")

        publish_burst(cluster, slug, 10, during=outage, at=4)
        # A graceful restart (its append-only file keeps the queue and the
        # live channel's order); the tasks the killed workers held are the
        # sweep's to re-send.
        cluster.stop_node("redis")
        cluster.start_node("redis")
        cluster.wait_tcp(cluster.opts.redis_addr, cluster.opts.ports["redis"], time.monotonic() + 10)
        cluster.start_node("worker-1")
        cluster.start_node("worker-2")
        expected = committed_seqs(cluster, slug, start)
        assert len(expected) == 10
        wait_for_all(readers, expected, seconds=60)
        assert_partner_got_each_once(partner, start, expected)
    finally:
        partner.close()


def test_postgres_restart_writes_answer_503_and_readers_keep_reading(cluster):
    opts = cluster.opts
    slug = new_blog(cluster)
    start = latest_seq(cluster, slug)
    readers = readers_on_both_edges(cluster, slug, start, count=4)
    call(opts.base_url, "POST", f"/api/blogs/{slug}/entries", {"body": "Before the outage."}, cluster.token)
    page = f"/live/{slug}/"
    deadline = time.monotonic() + 10
    while b"Before the outage." not in call(opts.base_url, "GET", page)[2]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    for _ in range(4):  # every cache node holds the page
        call(opts.base_url, "GET", page)
    cluster.stop_node("postgres")
    try:
        outage_end = time.monotonic() + 6
        answers = []
        while time.monotonic() < outage_end:
            # Through the front door; and at an edge, where the app itself
            # answers (HAProxy answers the same shape if its probe of the
            # edges fails while the database is away).
            for base in (opts.base_url, opts.url("edge-2")):
                status, headers, body = call(base, "POST", f"/api/blogs/{slug}/entries",
                                             {"body": "During the outage."}, cluster.token)
                assert status == 503, body
                assert headers["content-type"].startswith("application/json")
                assert json.loads(body)["code"] == "unavailable" and int(headers["retry-after"]) > 0
                answers.append(status)
            status, _, body = call(opts.base_url, "GET", page)
            assert status == 200 and b"Before the outage." in body
            # A page the caches do not hold, straight at an edge: the app's
            # 503 with Retry-After, never a 500 page.
            status, headers, _ = call(opts.url("edge-2"), "GET", f"/live/{slug}/?before={1_700_000_000_000_000 + len(answers)}_1")
            assert status == 503 and int(headers["retry-after"]) > 0, status
            # A reader arriving now is never refused (EventSource would give up).
            assert stream_status(opts.base_url, f"/live/{slug}/events") == 200
            time.sleep(0.2)
        assert answers
    finally:
        cluster.start_node("postgres")
    cluster.wait_postgres(time.monotonic() + 30)
    deadline = time.monotonic() + 20
    while True:
        status, _, body = call(opts.base_url, "POST", f"/api/blogs/{slug}/entries", {"body": "After."}, cluster.token)
        if status == 201:
            break
        assert status == 503 and time.monotonic() < deadline, body
        time.sleep(0.5)
    publish_burst(cluster, slug, 3)
    # Streams held through the outage (or resumed after it) miss nothing.
    expected = committed_seqs(cluster, slug, start)
    assert len(expected) == 5
    wait_for_all(readers, expected)
