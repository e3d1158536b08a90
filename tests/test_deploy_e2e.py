"""End to end through the production profile: nginx (micro-cache + Nchan) in
front of uvicorn processes, a Celery worker and beat, PostgreSQL and Redis:
what is particular to the profile (the micro-cache, Nchan, heartbeats, reader
counts, the resume hand-off's routes). What both servers promise is in
tests/test_contract.py.

The profile is the session's ``production_profile`` (tests/conftest.py),
started in the PostgreSQL pass only; this module is not collected otherwise.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import brotli
import pytest

from deploy.profile import ROOT


@pytest.fixture(scope="module")
def prod(production_profile):
    return production_profile


def request(prod, method: str, path: str, body: dict | None = None, headers: dict | None = None, auth=False):
    conn = http.client.HTTPConnection("127.0.0.1", prod.port, timeout=10)
    hdrs = dict(headers or {})
    if auth:
        hdrs["Authorization"] = f"Bearer {prod.token}"
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


@pytest.fixture(scope="module")
def live_blog(prod):
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    status, _, data = request(prod, "POST", "/api/blogs", {"title": "E2E night", "slug": slug, "status": "live"}, auth=True)
    assert status == 201, data
    status, _, data = request(prod, "POST", f"/api/blogs/{slug}/entries", {"body": "First update."}, auth=True)
    assert status == 201, data
    return slug


class Stream:
    """A raw SSE connection, read with a deadline."""

    def __init__(self, port: int, path: str, headers: dict | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}\r\n".encode())
        self.buffer = b""
        head = self.read_until(b"\r\n\r\n", 10)
        status_line, *lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}
        self.buffer = self.buffer.split(b"\r\n\r\n", 1)[1]

    def read_until(self, needle: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{needle!r} not received; got {self.buffer[-500:]!r}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"stream closed; got {self.buffer[-500:]!r}")
            self.buffer += chunk
        return self.buffer

    def close(self):
        self.sock.close()


def seq_above(prod, slug: str, before: int, timeout: float = 10) -> int:
    """The blog's seq once it is past ``before``: the app's own read cache
    moves on when the fan-out (a Celery task) has invalidated it."""
    deadline = time.monotonic() + timeout
    while (seq := latest_seq(prod, slug)) <= before:
        assert time.monotonic() < deadline, f"seq stayed at {seq}"
        time.sleep(0.05)
    return seq


def latest_seq(prod, slug: str) -> int:
    # With a token the micro-cache is bypassed: this is the app's answer now.
    status, headers, data = request(prod, "GET", f"/api/blogs/{slug}", auth=True)
    assert status == 200
    return json.loads(data)["seq"]


def wait_nchan_has(prod, slug: str, seq: int) -> None:
    """Until the fan-out has given Nchan ``seq`` and recorded it for the
    resume hand-off (posts/delivery/nchan.py), or 15 s."""
    script = (
        "import time\nfrom django.core.cache import cache\nfrom posts.delivery import nchan\n"
        "for _ in range(150):\n"
        f"    records = cache.get(nchan.record_key({slug!r})) or []\n"
        f"    if records and records[-1][0] >= {seq}: break\n    time.sleep(0.1)\n"
        "else:\n    raise SystemExit('not recorded')\n"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=prod.env, check=True)


def test_live_page_is_served_from_the_micro_cache_on_the_second_read(prod, live_blog):
    status1, headers1, body1 = request(prod, "GET", f"/live/{live_blog}/")
    status2, headers2, body2 = request(prod, "GET", f"/live/{live_blog}/")
    assert status1 == status2 == 200
    assert headers2["x-cache"] == "HIT"
    assert body1 == body2
    assert b'<article id="entry-' in body2


def test_one_micro_cache_entry_serves_every_accept_encoding(prod, live_blog):
    """The app's Vary: Accept-Encoding is ignored by the micro-cache (the app
    never compresses): browsers sending different Accept-Encoding strings
    share one entry, and nginx still compresses for those that ask."""
    path = f"/live/{live_blog}/?ae-test"
    request(prod, "GET", path, headers={"Accept-Encoding": "identity"})
    status, headers, body = request(prod, "GET", path, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert status == 200 and headers["x-cache"] == "HIT"
    assert headers.get("content-encoding") == "gzip" and "Accept-Encoding" in headers.get("vary", "")
    assert gzip.decompress(body).lstrip().lower().startswith(b"<!doctype html>")
    assert request(prod, "GET", path, headers={"Accept-Encoding": "gzip"})[1]["x-cache"] == "HIT"


def test_micro_cache_holds_a_public_read_for_about_a_second(prod, live_blog):
    path = f"/api/blogs/{live_blog}/updates?since=0"
    request(prod, "GET", path)
    assert request(prod, "GET", path)[1]["x-cache"] == "HIT"
    # nginx counts validity in whole seconds: "1s" lasts until the end of the
    # next second. Past that the next reader refreshes it from the app (and
    # readers arriving meanwhile get the copy being replaced).
    time.sleep(2.2)
    assert request(prod, "GET", path)[1]["x-cache"] in {"EXPIRED", "REVALIDATED"}


def test_requests_with_a_token_bypass_the_micro_cache(prod, live_blog):
    status, headers, _ = request(prod, "GET", f"/api/blogs/{live_blog}", auth=True)
    assert status == 200
    assert headers["x-cache"] == "BYPASS"


def test_static_files_are_served_by_nginx_fingerprinted_and_precompressed(prod, live_blog):
    _, _, page = request(prod, "GET", f"/live/{live_blog}/")
    css = re.search(rb'href="(/static/live/live\.[0-9a-f]{12}\.css)"', page).group(1).decode()
    status, headers, plain = request(prod, "GET", css)
    assert status == 200
    assert "x-cache" not in headers or headers["x-cache"] == ""
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "server" not in headers or "uvicorn" not in headers["server"]
    for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        status, headers, data = request(prod, "GET", css, headers={"Accept-Encoding": encoding})
        assert status == 200 and headers["content-encoding"] == encoding
        assert decode(data) == plain
    # nginx serves the file itself: the .br on disk, byte for byte.
    on_disk = ROOT / "staticfiles" / css.removeprefix("/static/")
    assert request(prod, "GET", css, headers={"Accept-Encoding": "br"})[2] == on_disk.with_name(on_disk.name + ".br").read_bytes()


def test_entry_published_through_the_api_reaches_a_reader_through_nchan(prod, live_blog):
    before = latest_seq(prod, live_blog)
    stream = Stream(prod.port, f"/live/{live_blog}/events")
    try:
        assert stream.status == 200
        assert stream.headers["x-push-engine"] == "nchan"
        assert stream.headers["content-type"].startswith("text/event-stream")
        marker = uuid.uuid4().hex
        status, _, data = request(prod, "POST", f"/api/blogs/{live_blog}/entries", {"body": f"Via nchan {marker}"}, auth=True)
        assert status == 201, data
        received = stream.read_until(marker.encode(), timeout=10)
    finally:
        stream.close()
    frame = received[received.rindex(b"id: "):].decode()
    seq = seq_above(prod, live_blog, before)
    assert frame.startswith(f"id: {seq}\nevent: entry.published\ndata: ")
    data = json.loads(frame.split("data: ", 1)[1].split("\n", 1)[0])
    assert data["seq"] == seq
    assert data["type"] == "entry.published"
    assert marker in data["entry"]["body"]


def test_page_first_connect_with_last_event_id_query_is_held_by_nchan(prod, live_blog):
    seq = latest_seq(prod, live_blog)
    stream = Stream(prod.port, f"/live/{live_blog}/events?last_event_id={seq}")
    try:
        assert stream.status == 200
        assert stream.headers["x-push-engine"] == "nchan"
    finally:
        stream.close()


def test_nchan_readers_get_heartbeats(prod, live_blog):
    stream = Stream(prod.port, f"/live/{live_blog}/events")
    try:
        # The profile runs with a 1 s heartbeat for this test module.
        assert b": heartbeat" in stream.read_until(b": heartbeat", timeout=5)
    finally:
        stream.close()


def test_a_resume_within_seconds_is_handed_to_nchan_which_sends_what_was_missed(prod, live_blog):
    before = latest_seq(prod, live_blog)
    request(prod, "POST", f"/api/blogs/{live_blog}/entries", {"body": "Missed while offline"}, auth=True)
    seq = seq_above(prod, live_blog, before)
    stream = Stream(prod.port, f"/live/{live_blog}/events", headers={"Last-Event-ID": str(seq - 1)})
    try:
        assert stream.status == 200
        assert stream.headers["x-push-engine"] == "nchan"
        assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
        received = stream.read_until(f"id: {seq}\n".encode(), timeout=10).decode()
    finally:
        stream.close()
    assert f"id: {seq - 1}\n" not in received
    assert "Missed while offline" in received


def test_a_resume_across_a_takedown_is_replayed_by_the_app_with_a_tombstone_then_ends_the_stream(prod, live_blog):
    """Nchan's buffer still holds the deleted entry's text: a reader who
    missed the deletion gets what it missed from the event log (a tombstone
    in place of the entry), and the stream ends with a short retry so the
    browser comes back and is handed off."""
    before = latest_seq(prod, live_blog)
    status, _, data = request(prod, "POST", f"/api/blogs/{live_blog}/entries", {"body": "Defamatory, soon gone"}, auth=True)
    assert status == 201, data
    entry_id = json.loads(data)["id"]
    status, _, _ = request(prod, "DELETE", f"/api/blogs/{live_blog}/entries/{entry_id}", auth=True)
    assert status in (200, 204)
    deleted = seq_above(prod, live_blog, before + 1)
    wait_nchan_has(prod, live_blog, deleted)
    stream = Stream(prod.port, f"/live/{live_blog}/events?last_event_id={before}")
    try:
        assert stream.status == 200
        assert "x-push-engine" not in stream.headers
        body = stream.read_until(b"0\r\n\r\n", timeout=10).decode()
    finally:
        stream.close()
    assert "retry: 100\n" in body
    assert f"id: {deleted}\n" in body
    assert "Defamatory" not in body
    # Back with the last seq it got: Nchan's from then on.
    stream = Stream(prod.port, f"/live/{live_blog}/events", headers={"Last-Event-ID": str(deleted)})
    try:
        assert stream.status == 200
        assert stream.headers["x-push-engine"] == "nchan"
    finally:
        stream.close()


def test_a_resume_seconds_late_is_still_handed_to_nchan(prod, live_blog):
    """After an outage readers come back seconds later, all at once: while
    Nchan holds what they missed (no takedown among it) each is handed over
    in one request, however old the messages are."""
    before = latest_seq(prod, live_blog)
    request(prod, "POST", f"/api/blogs/{live_blog}/entries", {"body": "Missed a while ago"}, auth=True)
    seq = seq_above(prod, live_blog, before)
    wait_nchan_has(prod, live_blog, seq)
    time.sleep(6)  # older than the hand-off's former 5 s window
    stream = Stream(prod.port, f"/live/{live_blog}/events", headers={"Last-Event-ID": str(seq - 1)})
    try:
        assert stream.status == 200
        assert stream.headers["x-push-engine"] == "nchan"
        received = stream.read_until(f"id: {seq}\n".encode(), timeout=10).decode()
    finally:
        stream.close()
    assert "Missed a while ago" in received


def test_resuming_a_stream_of_an_unknown_blog_is_a_404_from_the_app(prod):
    stream = Stream(prod.port, "/live/no-such-blog-here/events", headers={"Last-Event-ID": "3"})
    try:
        assert stream.status == 404
    finally:
        stream.close()


def _reader_counts(prod, slug: str, *, until: str) -> tuple[int, int]:
    """(Nchan's count, the live channel's total) once ``until`` holds for
    Nchan's count ``n``, or after 15 s (a loaded machine: the suite runs
    beside the whole profile)."""
    env = dict(prod.env, LIVEBLOG_NCHAN_PUBLISH_URL=prod.info["publish_url"])
    script = (
        "import time\nfrom posts.delivery import channel, nchan\nfor _ in range(150):\n"
        f"    n = nchan.reader_count({slug!r})\n"
        f"    if {until}: break\n    time.sleep(0.1)\n"
        f"print(n, channel.reader_count({slug!r}))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )
    nchan_count, total = out.stdout.strip().splitlines()[-1].split()
    return int(nchan_count), int(total)


def test_reader_count_includes_nchan_readers(prod, live_blog):
    """Nchan's per-channel count is exact within one nginx worker; readers
    held by another worker reach the channel's owner as one subscriber, so
    with several workers the desk's figure is a lower bound (deploy/README.md)."""
    # A channel no other test of this module streams: Nchan notices a closed
    # reader only at its next write (a heartbeat, every 15 s), so another
    # test's just-closed stream could still be counted on the shared blog.
    slug = f"{live_blog}-count"
    before, _ = _reader_counts(prod, slug, until="n == 0")
    streams = [Stream(prod.port, f"/live/{slug}/events") for _ in range(3)]
    try:
        during, total = _reader_counts(prod, slug, until="n >= 3")
    finally:
        for stream in streams:
            stream.close()
    after, _ = _reader_counts(prod, slug, until="n == 0")
    assert before == 0
    assert 1 <= during <= 3
    assert total >= during
    assert after == 0


# --- Operations (docs/operations.md) ----------------------------------------------------


def test_probes_pass_through_nginx_uncached_with_no_store(prod):
    for path in ("/healthz", "/readyz"):
        first = request(prod, "GET", path)
        second = request(prod, "GET", path)
        for status, headers, data in (first, second):
            assert status == 200, data
            assert headers["cache-control"] == "no-store"
            assert headers.get("x-cache") in (None, "", "BYPASS")
    body = json.loads(request(prod, "GET", "/readyz")[2])
    assert body["status"] == "ok" and body["checks"]["broker"]["detail"] == "ok"


def test_metrics_are_on_the_loopback_metrics_port_only_and_add_up_every_process(prod, live_blog):
    assert request(prod, "GET", "/metrics")[0] == 404
    for _ in range(20):
        request(prod, "GET", "/healthz")
    conn = http.client.HTTPConnection("127.0.0.1", prod.metrics_port, timeout=10)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 200
    from prometheus_client.parser import text_string_to_metric_families

    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    healthz = sum(s.value for s in samples if s.name == "liveblog_http_requests_total" and s.labels["route"] == "healthz")
    assert healthz >= 20  # counted by two app processes, added up in one scrape
    # The Celery worker's fan-outs are in the same scrape.
    assert any(s.name == "liveblog_fanout_duration_seconds_count" and s.value >= 1 for s in samples)
    assert any(s.name == "liveblog_sse_readers" and s.labels.get("blog") == live_blog for s in samples)
    assert any(s.name == "liveblog_outbox_lag_seconds" for s in samples)


def test_nginx_request_id_reaches_the_app_log_and_the_celery_task_log(prod, live_blog):
    status, headers, data = request(prod, "POST", f"/api/blogs/{live_blog}/entries", {"body": "Traced."}, auth=True)
    assert status == 201, data
    rid = headers["x-request-id"]
    assert len(rid) == 32 and int(rid, 16) >= 0  # nginx's $request_id
    worker_log = prod.run_dir / "logs" / "celery-worker.log"
    deadline = time.monotonic() + 15
    found = []
    while not found and time.monotonic() < deadline:
        for line in worker_log.read_text(errors="replace").splitlines():
            if rid in line and line.startswith("{"):
                found.append(json.loads(line))
        time.sleep(0.2)
    assert found, "the fan-out task's log line names the request id"
    assert found[0]["request_id"] == rid and found[0]["message"] == "fan-out confirmed"
    assert "Traced." not in worker_log.read_text(errors="replace")
    # A micro-cached answer names this request's id, not the one it was made under.
    ids = set()
    for _ in range(2):
        status, headers, _ = request(prod, "GET", f"/live/{live_blog}/")
        assert status == 200
        ids.add(headers["x-request-id"])
    assert len(ids) == 2


def test_logrotate_rotates_the_profile_logs(prod, tmp_path):
    conf = tmp_path / "logrotate.conf"
    conf.write_text((prod.run_dir / "logrotate.conf").read_text())
    result = subprocess.run(
        ["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    logs = prod.run_dir / "logs"
    assert (logs / "celery-worker.log.1").exists()
    # Still written to after rotation (copytruncate; nginx reopened on USR1).
    status, _, _ = request(prod, "GET", "/healthz")
    assert status == 200


# --- Crashes and restarts (issue 18): these kill processes, so they run last
# and leave the profile whole again.


def _wait_running(prod, names, *, not_pids: dict[str, int], timeout: float = 40) -> dict[str, int]:
    """The new pids of ``names`` once supervisord reports them RUNNING again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = prod.status()
        if all(status.get(n, ("", None))[0] == "RUNNING" and status[n][1] != not_pids[n] for n in names):
            return {n: status[n][1] for n in names}
        time.sleep(0.2)
    raise AssertionError(f"not restarted: {prod.status()}")


def _wait_serving(prod, slug: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while request(prod, "GET", f"/api/blogs/{slug}", auth=True)[0] != 200:
        assert time.monotonic() < deadline, "the app did not come back"
        time.sleep(0.2)


def test_a_killed_process_is_restarted_alone_and_readers_stay_connected(prod, live_blog):
    before = {name: pid for name, (_state, pid) in prod.status().items()}
    stream = Stream(prod.port, f"/live/{live_blog}/events")
    try:
        assert stream.headers["x-push-engine"] == "nchan"
        for name in ("celery-worker", "app-0"):
            os.kill(before[name], signal.SIGKILL)
        restarted = _wait_running(prod, ["celery-worker", "app-0"], not_pids=before)
        after = {name: pid for name, (_state, pid) in prod.status().items()}
        for name in ("app-1", "celery-beat", "nginx"):
            assert after[name] == before[name], f"{name} was restarted too"
        _wait_serving(prod, live_blog)
        marker = uuid.uuid4().hex
        status, _, data = request(prod, "POST", f"/api/blogs/{live_blog}/entries", {"body": f"After {marker}"}, auth=True)
        assert status == 201, data
        # The reader held by Nchan never noticed: the event reaches it on the
        # same connection, published by the restarted worker.
        assert marker.encode() in stream.read_until(marker.encode(), timeout=20)
    finally:
        stream.close()
    assert set(restarted) == {"celery-worker", "app-0"}


def test_while_the_app_restarts_readers_get_200_and_writes_a_json_503(prod, live_blog):
    """Every app process killed at once: until supervisord has them back, a
    resuming reader is told to retry (200, ``retry:``), never a 502, and a
    write gets a JSON 503 with Retry-After."""
    before = {name: pid for name, (_state, pid) in prod.status().items()}
    apps = [name for name in before if name.startswith("app-")]
    for name in apps:
        os.kill(before[name], signal.SIGKILL)
    seen_sse, seen_writes = [], []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        stream = Stream(prod.port, f"/live/{live_blog}/events", headers={"Last-Event-ID": "1"})
        stream.close()
        assert stream.status == 200, stream.buffer
        assert stream.headers["content-type"].startswith("text/event-stream")
        seen_sse.append(stream.headers.get("x-push-engine", "app"))
        status, headers, data = request(prod, "POST", f"/api/blogs/{live_blog}/entries", {"body": "Mid-restart"}, auth=True)
        seen_writes.append(status)
        if status == 503:
            assert headers["content-type"].startswith("application/json")
            assert int(headers["retry-after"]) > 0
            assert json.loads(data)["code"] == "unavailable"
        else:
            assert status == 201, (status, data)
            break
        time.sleep(0.1)
    assert 503 in seen_writes and seen_writes[-1] == 201, seen_writes
    _wait_running(prod, apps, not_pids=before)


# --- The resume hand-off under concurrency (issues 17 and 18) ------------------------------


async def _resume(port: int, path: str, last: int, until: int, deadline: float) -> dict:
    """One EventSource-like reader resuming after ``last`` (the header form):
    reconnects after a stream ends, as a browser does after ``retry:``, with
    the last seq it has, until it holds ``until`` on a stream Nchan holds.
    Every seq and status is kept."""
    import asyncio

    seqs: list[int] = []
    statuses: list[int] = []
    engine = ""
    retry = 0.1

    def done() -> bool:
        return (seqs[-1] if seqs else last) >= until and engine == "nchan"

    while not done() and time.monotonic() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n"
            f"Last-Event-ID: {seqs[-1] if seqs else last}\r\n\r\n"
        )
        writer.write(head.encode())
        try:
            headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            statuses.append(int(headers.split(b" ", 2)[1]))
            engine = "nchan" if b"X-Push-Engine: nchan" in headers else "app"
            buffer = b""
            while not done():
                chunk = await asyncio.wait_for(reader.read(65536), timeout=max(0.1, deadline - time.monotonic()))
                if not chunk:
                    break
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    if m := re.search(rb"^retry: (\d+)$", block, re.M):
                        retry = int(m.group(1)) / 1000
                    if m := re.search(rb"^id: (\d+)$", block, re.M):
                        seqs.append(int(m.group(1)))
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            statuses.append(0)
        finally:
            writer.close()
        if not done():
            await asyncio.sleep(retry)
    return {"last": last, "seqs": seqs, "statuses": statuses, "engine": engine}


def _resume_storm(prod, slug: str, starts: list[int], publishes: int, delay: float = 0.0) -> tuple[list[dict], int]:
    """Every reader of ``starts`` resumes at once while ``publishes`` entries
    are published, from ``delay`` seconds on (the first ones land during the
    hand-off)."""
    import asyncio

    async def storm() -> tuple[list[dict], int]:
        def publish_all() -> None:
            time.sleep(delay)
            for i in range(publishes):
                status, _, data = request(prod, "POST", f"/api/blogs/{slug}/entries", {"body": f"Storm {i}"}, auth=True)
                assert status == 201, data
                time.sleep(0.05)

        publisher = asyncio.get_running_loop().run_in_executor(None, publish_all)
        deadline = time.monotonic() + 60
        # Readers stop at the seq the last publish will have; known once it is done.
        until = max(starts) + publishes
        readers = [_resume(prod.port, f"/live/{slug}/events", start, until, deadline) for start in starts]
        results = await asyncio.gather(*readers)
        await publisher
        return list(results), until

    # A loop of its own in a thread of its own: a browser test's loop may
    # be running on this one.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, storm()).result()


def _nginx_workers(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master), "-f", "worker process"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _nginx_aborts(prod) -> list[str]:
    log = (prod.run_dir / "logs" / "nginx-error.log").read_text(errors="replace")
    return [line for line in log.splitlines() if "Assertion" in line or re.search(r"exited on signal (6|11)", line)]


def _check_storm(results: list[dict], until: int) -> None:
    for r in results:
        assert r["seqs"] == list(range(r["last"] + 1, until + 1)), (r["last"], r["seqs"], r["statuses"])
        assert set(r["statuses"]) == {200}, r["statuses"]
        assert r["engine"] == "nchan", r


def test_fifty_readers_resuming_at_once_crash_no_nchan_worker_and_miss_nothing(prod):
    """Debian's Nchan 1.3.6 aborts a worker when readers resume at once from
    a message id it no longer holds. The hand-off only hands over ids Nchan
    holds: 50 readers resume together (from the latest seq and a few behind)
    while entries are published, then again after every nginx worker was
    killed (Nchan lost every channel: the hand-off resyncs). Each gets every
    seq after its own once, in order, ends on Nchan, and no worker aborts."""
    slug = f"storm-{uuid.uuid4().hex[:8]}"
    status, _, data = request(prod, "POST", "/api/blogs", {"title": "Storm", "slug": slug, "status": "live"}, auth=True)
    assert status == 201, data
    for i in range(4):
        assert request(prod, "POST", f"/api/blogs/{slug}/entries", {"body": f"Before {i}"}, auth=True)[0] == 201
    latest = seq_above(prod, slug, 4)
    aborts_before = len(_nginx_aborts(prod))

    starts = [latest - (n % 3) for n in range(50)]
    results, until = _resume_storm(prod, slug, starts, publishes=6)
    _check_storm(results, until)

    # Every nginx worker killed: the master starts new ones, and the channels
    # the old ones owned (messages included) are gone. The readers resume at
    # once, as the killed workers' own readers would, before anything new is
    # published: the recorded ids name messages Nchan no longer holds.
    master = int((prod.run_dir / "nginx.pid").read_text())
    workers = _nginx_workers(master)
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while len(set(_nginx_workers(master)) - set(workers)) < len(workers):
        assert time.monotonic() < deadline, "nginx did not replace its workers"
        time.sleep(0.02)
    latest = until
    starts = [latest] * 40 + [latest - 1] * 10
    results, until = _resume_storm(prod, slug, starts, publishes=4, delay=0.5)
    _check_storm(results, until)

    assert _nginx_aborts(prod)[aborts_before:] == []


def test_streams_naming_a_message_id_nchan_would_read_never_reach_nchan(prod, live_blog):
    """Nchan also reads a message id from If-None-Match / If-Modified-Since:
    sent at once with several ids, they abort its workers (a remote denial of
    service). nginx sends such streams to the app, which never hands them over."""
    import concurrent.futures

    aborts_before = len(_nginx_aborts(prod))

    def open_stream(n: int) -> tuple[int, str]:
        header = {"If-None-Match": f"{n + 1}:0"} if n % 2 else {"If-Modified-Since": "Thu, 01 Jan 2026 00:00:00 GMT"}
        stream = Stream(prod.port, f"/live/{live_blog}/events", headers=header)
        stream.close()
        return stream.status, stream.headers.get("x-push-engine", "app")

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(open_stream, range(40)))
    assert answers == [(200, "app")] * 40
    time.sleep(0.5)
    assert _nginx_aborts(prod)[aborts_before:] == []
