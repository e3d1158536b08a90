"""The soak (``make bench``; short in ``make bench-ci``): readers held by
Nchan (handed over as the page connects, ``?last_event_id=``) while a desk
publishes and edits entries for minutes. Reported: events lost, duplicated
and out of order per reader, non-200 answers to readers, writes answered
5xx (all 0), write latency, readers on Nchan at the end, and memory (PSS)
per process kind before and after: app, Celery worker, beat, nginx, Redis.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from pathlib import Path

from deploy.profile import BackgroundProfile

from .faults import _expected_seqs, _latest_seq, memory_by_kind, start_readers

SOAK_INTERVAL = 0.25  # one write every this long: a publish, or every third an edit


class EditingDesk:
    """Publishes and edits entries through nginx, each write with an
    Idempotency-Key; counts what it did and every 5xx."""

    def __init__(self, base: str, token: str, slug: str) -> None:
        self.host, port = base.split("://", 1)[1].split(":")
        self.port = int(port)
        self.token, self.slug = token, slug
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.published = self.edited = self.server_errors = self.other_errors = 0
        self.entries: list[dict] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _write(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=json.dumps(body), headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            })
            resp = conn.getresponse()
            data = resp.read()
        except OSError:
            self.other_errors += 1
            return 0, {}
        finally:
            conn.close()
        self.latencies.append((time.perf_counter() - started) * 1000)
        if resp.status >= 500:
            self.server_errors += 1
        elif resp.status >= 300:
            self.other_errors += 1
        return resp.status, json.loads(data) if data else {}

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 3 == 0 and self.entries:
                entry = self.entries[-1 - (n // 3) % len(self.entries)]
                status, data = self._write(
                    "PATCH", f"/api/blogs/{self.slug}/entries/{entry['id']}",
                    {"body": f"Soak entry, edit {n}", "version": entry["version"]},
                )
                if status == 200:
                    entry["version"] = data["version"]
                    self.edited += 1
            else:
                status, data = self._write("POST", f"/api/blogs/{self.slug}/entries", {"body": f"Soak entry {n}"})
                if status == 201:
                    self.entries = [*self.entries, {"id": data["id"], "version": data["version"]}][-20:]
                    self.published += 1
            self.stop.wait(SOAK_INTERVAL)

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def phase_soak(report, plan, base: str, run_dir: Path, seeded: dict, profile: BackgroundProfile, python: str):
    slug, token = seeded["live"]["slug"], seeded["token"]
    readers, seconds = plan.soak_readers, plan.soak_seconds
    print(f"\n[6] soak: {readers:,} readers, a write every {SOAK_INTERVAL} s (a third of them edits), "
          f"{seconds:.0f} s", flush=True)
    memory_before = memory_by_kind(profile)
    start_seq = _latest_seq(base, token, slug)
    out = run_dir / "soak-readers.json"
    client = start_readers(python, base, slug, readers=readers, start_seq=start_seq, out=out)
    desk = EditingDesk(base, token, slug)
    started = time.monotonic()
    try:
        ready = client.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"soak readers did not start: {ready}")
        desk.start()
        time.sleep(seconds)
    finally:
        desk.finish()
        time.sleep(3)  # the last events reach every reader
        try:
            client.stdin.close()
        except OSError:
            pass
        client.wait(timeout=120)
    elapsed = time.monotonic() - started
    memory_after = memory_by_kind(profile)
    results = json.loads(out.read_text())
    expected = set(_expected_seqs(base, token, slug, start_seq))
    lost = sum(len(expected - set(r["seqs"])) for r in results)
    duplicated = sum(r["duplicates"] for r in results)
    disorder = sum(r["out_of_order"] for r in results)
    # "error": a connection broken under the reader (its nginx worker was
    # killed), not an answer; it reconnects as a browser would.
    non_200 = sum(n for r in results for status, n in r["statuses"].items() if status not in ("200", "error"))
    broken = sum(r["statuses"].get("error", 0) for r in results)
    on_nchan = sum(r["engine"] == "nchan" for r in results)
    p50, p99 = _percentile(desk.latencies, 0.5), _percentile(desk.latencies, 0.99)
    report.details["soak"] = {
        "readers": readers, "seconds": round(elapsed), "events": len(expected), "published": desk.published,
        "edited": desk.edited, "lost": lost, "duplicated": duplicated, "out_of_order": disorder,
        "reader_non_200": non_200, "reader_connections_broken": broken, "write_5xx": desk.server_errors, "write_other_errors": desk.other_errors,
        "write_p50_ms": p50, "write_p99_ms": p99, "on_nchan": on_nchan,
        "memory_mib_before": memory_before, "memory_mib_after": memory_after,
    }
    report.add(
        f"soak: {readers:,} readers x {len(expected):,} events in {elapsed:.0f} s: lost / dup / out of order",
        f"{lost} / {duplicated} / {disorder}", "all 0", lost == duplicated == disorder == 0,
        note=f"{desk.published} published, {desk.edited} edits",
    )
    report.add("soak: 5xx to writes / non-200 to readers", f"{desk.server_errors} / {non_200}", "0 / 0",
               desk.server_errors == non_200 == 0, note=f"{broken} reader connections broken")
    report.add("soak: write p50 / p99", f"{p50:.0f} / {p99:.0f} ms", "(reported)")
    report.add("soak: readers on Nchan at the end", f"{on_nchan:,} of {readers:,}", "all", on_nchan == readers)
    report.add(
        "soak: memory per process kind before -> after (MiB PSS)",
        ", ".join(f"{k} {memory_before.get(k, 0)}->{v}" for k, v in sorted(memory_after.items())), "(reported)",
    )
    if lost or duplicated or disorder:
        report.fail(f"soak: {lost} lost, {duplicated} duplicated, {disorder} out of order")
    if desk.server_errors or non_200 or broken or desk.other_errors:
        report.fail(f"soak: {desk.server_errors} writes answered 5xx, {desk.other_errors} other write errors, "
                    f"{non_200} non-200 answers to readers")
    if on_nchan != readers:
        report.fail(f"soak: {readers - on_nchan} readers not on Nchan")
