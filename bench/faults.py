"""The fault drill (``make bench``; small in ``make bench-ci``): readers on
Nchan and a desk publishing four entries a second while single processes
are killed as production kills them: ``kill -9`` of an app process, the
Celery worker, beat and one nginx worker, and of the profile's own Redis.
supervisord restarts each alone. Then every reader is cut at once and
resumes. Reported: events lost, duplicated and out of order per reader,
non-200 answers to readers, writes answered 5xx (retried with their
Idempotency-Key), time to recover per fault, publish p99 10 s after the
cut, readers back on Nchan, and memory per process kind before and after.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from deploy.profile import ROOT, BackgroundProfile

WRITE_INTERVAL = 0.25


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def memory_by_kind(profile: BackgroundProfile) -> dict[str, float]:
    """PSS in MiB per process kind (a process and its children)."""
    kinds: dict[str, float] = {}
    for name, (_state, pid) in profile.status().items():
        if not pid:
            continue
        kind = "app (each)" if name.startswith("app-") else {"nginx": "nginx (master + workers)"}.get(name, name)
        total = sum(_pss_kb(p) for p in [pid, *_children(pid)]) / 1024
        if kind == "app (each)":
            kinds[kind] = max(kinds.get(kind, 0.0), total)
        else:
            kinds[kind] = total
    return {k: round(v, 1) for k, v in kinds.items()}


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_by_kind(profile: BackgroundProfile, readers_pid: int) -> dict[str, float]:
    """CPU seconds used so far per process kind (a process and its children;
    the app processes added up), the drill's readers and PostgreSQL's
    backends included: where the time goes after the cut."""
    kinds: dict[str, float] = {}
    for name, (_state, pid) in profile.status().items():
        if pid:
            kind = "app" if name.startswith("app-") else name
            kinds[kind] = kinds.get(kind, 0.0) + sum(_cpu_s(p) for p in [pid, *_children(pid)])
    kinds["readers (bench)"] = _cpu_s(readers_pid)
    postgres = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _comm(int(e.name)) == "postgres"]
    kinds["postgresql"] = sum(_cpu_s(p) for p in postgres)
    return kinds


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _samples(profile: BackgroundProfile, name: str) -> list:
    """The samples of one metric from the profile's metrics port."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", profile.opts.metrics_port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except OSError:
        return []
    finally:
        conn.close()
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def resume_outcomes(profile: BackgroundProfile) -> dict[str, float]:
    """``liveblog_sse_resumes_total`` by outcome."""
    return {s.labels["outcome"]: s.value for s in _samples(profile, "liveblog_sse_resumes_total")}


def wait_drained(profile: BackgroundProfile, timeout: float = 60) -> float:
    """Seconds until the outbox holds no unconfirmed event (every event has
    reached the live channel), at most ``timeout``: after the last fault (the
    profile's Redis killed, the worker reconnecting) the last events arrive
    through the sweep, seconds later."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        lag = _samples(profile, "liveblog_outbox_lag_seconds")
        if lag and lag[0].value == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return time.monotonic() - started


def _profile_apps(profile: BackgroundProfile, seconds: int) -> list[subprocess.Popen]:
    """With ``BENCH_PYSPY_DIR`` set: py-spy samples every app process for
    ``seconds`` (collapsed stacks, one file per process) -- where the app's
    time goes after the cut."""
    out = os.environ.get("BENCH_PYSPY_DIR")
    if not out:
        return []
    Path(out).mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    return [
        subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(seconds), "--format", "raw",
                          "--nonblocking", "-o", f"{out}/{name}.txt"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, (_state, pid) in profile.status().items() if name.startswith("app-") and pid
    ]


class Desk:
    """Publishes an entry every WRITE_INTERVAL through nginx; a write that
    gets a 5xx or no answer is retried with the same Idempotency-Key."""

    def __init__(self, base: str, token: str, slug: str) -> None:
        self.host, port = base.split("://", 1)[1].split(":")
        self.port = int(port)
        self.token, self.slug = token, slug
        self.stop = threading.Event()
        self.latencies: list[tuple[float, float]] = []  # (started, ms) of answered writes
        self.server_errors = 0
        self.retries = 0
        self.published = 0
        self.in_flight = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _post(self, body: str, key: str) -> int:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            conn.request(
                "POST", f"/api/blogs/{self.slug}/entries", body=json.dumps({"body": body}),
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                         "Idempotency-Key": key},
            )
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except OSError:
            return 0
        finally:
            conn.close()

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            key = uuid.uuid4().hex
            while not self.stop.is_set():
                started = time.time()
                status = self._post(f"Drill entry {n}", key)
                if status == 201:
                    self.latencies.append((started, (time.time() - started) * 1000))
                    self.published += 1
                    break
                if status >= 500 or status == 0:
                    self.server_errors += status >= 500
                    self.retries += 1
                    time.sleep(0.5)
                    continue
                if status == 409:
                    # The key is held by a request whose app process was
                    # killed mid-write: it frees after two minutes. The
                    # desk moves on (the event log says what was published).
                    self.in_flight += 1
                    break
                raise RuntimeError(f"a drill write answered {status}")
            self.stop.wait(WRITE_INTERVAL)

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)


def _wait_restarted(profile: BackgroundProfile, name: str, old_pid: int, timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state, pid = profile.status().get(name, ("", None))
        if state == "RUNNING" and pid and pid != old_pid:
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"{name} was not restarted within {timeout:.0f} s")


def _kill_nginx_worker(run_dir: Path) -> float:
    master = int((run_dir / "nginx.pid").read_text().strip())
    workers = sorted(_children(master))
    os.kill(workers[0], signal.SIGKILL)
    started = time.monotonic()
    while time.monotonic() - started < 30:
        now = set(_children(master))
        if workers[0] not in now and len(now) >= len(workers):
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError("nginx did not replace its worker")


def _expected_seqs(base: str, token: str, slug: str, since: int) -> list[int]:
    host, port = base.split("://", 1)[1].split(":")
    seqs: list[int] = []
    while True:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", f"/api/blogs/{slug}/updates?since={since}", headers={"Authorization": f"Bearer {token}"})
        data = json.loads(conn.getresponse().read())
        conn.close()
        batch = [e["seq"] for e in data["events"]]
        seqs += batch
        if not batch or batch[-1] >= data["seq"]:
            return seqs
        since = batch[-1]


def _latest_seq(base: str, token: str, slug: str) -> int:
    host, port = base.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", f"/api/blogs/{slug}", headers={"Authorization": f"Bearer {token}"})
    seq = json.loads(conn.getresponse().read())["seq"]
    conn.close()
    return seq


def _p99_by_second(latencies: list[tuple[float, float]], cut_at: float, seconds: int = 15) -> list[float]:
    """The p99 of the writes started in each second after the cut (NaN: none)."""
    windows: list[list[float]] = [[] for _ in range(seconds)]
    for started, ms in latencies:
        if 0 <= started - cut_at < seconds:
            windows[int(started - cut_at)].append(ms)
    return [
        sorted(w)[min(len(w) - 1, int(len(w) * 0.99))] if w else float("nan")
        for w in windows
    ]


def _recovered_after(by_second: list[float]) -> int | None:
    """The first second after the cut from which every second's publish p99
    stays under 100 ms (None: it never did)."""
    for start in range(len(by_second)):
        rest = [ms for ms in by_second[start:] if ms == ms]  # NaN: no write that second
        if rest and all(ms < 100 for ms in rest):
            return start
    return None


def start_readers(python: str, base: str, slug: str, *, readers: int, start_seq: int, out: Path) -> subprocess.Popen:
    """The drill's and the soak's readers (bench/fault_client.py), resuming
    after ``start_seq``; they write what each got to ``out``."""
    out.unlink(missing_ok=True)
    return subprocess.Popen(
        ["nice", "-n", "10", python, "-m", "bench.fault_client", "--url", f"{base}/live/{slug}/events",
         "--readers", str(readers), "--last-event-id", str(start_seq), "--out", str(out)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def phase_faults(report, plan, base: str, run_dir: Path, seeded: dict, profile: BackgroundProfile, python: str):
    slug, token = seeded["live"]["slug"], seeded["token"]
    readers = plan.fault_readers
    print(f"\n[5] fault drill: {readers:,} readers, 4 publishes a second, kill -9 one process at a time", flush=True)
    memory_before = memory_by_kind(profile)
    start_seq = _latest_seq(base, token, slug)
    out = run_dir / "fault-readers.json"
    client = start_readers(python, base, slug, readers=readers, start_seq=start_seq, out=out)
    desk = Desk(base, token, slug)
    recoveries: dict[str, float] = {}
    try:
        ready = client.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"fault readers did not start: {ready}")
        desk.start()
        time.sleep(plan.fault_gap)
        calm_until = time.time()  # the writes before the cut: the baseline
        # Every reader cut at once (a push tier's outage, a network blip):
        # they resume with Last-Event-ID and must end on Nchan; the desk's
        # publish p99 must be back under 100 ms within 10 s. First, so that
        # no fault's own aftermath is counted in it.
        resumes_before = resume_outcomes(profile)
        cpu = [cpu_by_kind(profile, client.pid)]
        spies = _profile_apps(profile, 12)
        cut_seq = _latest_seq(base, token, slug)
        cut_at = time.time()
        client.stdin.write("CUT\n")
        client.stdin.flush()
        for _ in range(3):
            time.sleep(max(15.0, plan.fault_gap) / 3)
            cpu.append(cpu_by_kind(profile, client.pid))
        resumes = {k: v - resumes_before.get(k, 0) for k, v in resume_outcomes(profile).items()}
        for spy in spies:
            spy.wait(timeout=30)
        kill_seqs = {"cut": cut_seq}
        for name in ("app-0", "celery-worker", "celery-beat", "nginx worker", "redis"):
            kill_seqs[name] = _latest_seq(base, token, slug)
            if name == "nginx worker":
                recoveries[name] = _kill_nginx_worker(run_dir)
            else:
                _state, pid = profile.status()[name]
                os.kill(pid, signal.SIGKILL)
                recoveries[name] = _wait_restarted(profile, name, pid)
            print(f"  kill -9 {name} (at seq {kill_seqs[name]}): running again after {recoveries[name]:.1f} s", flush=True)
            time.sleep(plan.fault_gap)
    finally:
        desk.finish()
        drained = wait_drained(profile)
        time.sleep(3)  # the last events reach every reader
        try:
            client.stdin.close()
        except OSError:
            pass
        client.wait(timeout=120)
    results = json.loads(out.read_text())
    expected = _expected_seqs(base, token, slug, start_seq)
    expected_set = set(expected)
    lost = sum(len(expected_set - set(r["seqs"])) for r in results)
    duplicated = sum(r["duplicates"] for r in results)
    disorder = sum(r["out_of_order"] for r in results)
    # "error": a connection broken under the reader (its nginx worker was
    # killed), not an answer; it reconnects as a browser would.
    non_200 = sum(n for r in results for status, n in r["statuses"].items() if status not in ("200", "error"))
    broken = sum(r["statuses"].get("error", 0) for r in results)
    on_nchan = sum(r["engine"] == "nchan" for r in results)
    after_cut = sorted(ms for started, ms in desk.latencies if cut_at + 10 <= started <= cut_at + 15)
    p99_after = after_cut[min(len(after_cut) - 1, int(len(after_cut) * 0.99))] if after_cut else float("nan")
    before_cut = sorted(ms for started, ms in desk.latencies if started < calm_until)
    p99_before = before_cut[min(len(before_cut) - 1, int(len(before_cut) * 0.99))] if before_cut else float("nan")
    by_second = _p99_by_second(desk.latencies, cut_at)
    recovered = _recovered_after(by_second)
    memory_after = memory_by_kind(profile)
    report.details["faults"] = {
        "readers": readers, "events": len(expected), "lost": lost, "duplicated": duplicated,
        "out_of_order": disorder, "reader_non_200": non_200, "reader_connections_broken": broken, "write_5xx": desk.server_errors,
        "write_retries": desk.retries, "write_keys_in_flight": desk.in_flight, "recovery_s": recoveries, "on_nchan": on_nchan,
        "publish_p99_before_cut_ms": p99_before, "publish_p99_10s_after_cut_ms": p99_after, "publish_p99_ms_by_second_after_cut": by_second,
        "publish_p99_under_100ms_from_s": recovered, "memory_mib_before": memory_before,
        "resumes_after_cut": resumes, "cpu_s_after_cut": cpu, "seq_at_each_fault": kill_seqs,
        "memory_mib_after": memory_after,
    }
    report.add(
        f"drill: {readers:,} readers x {len(expected)} events: lost / dup / out of order",
        f"{lost} / {duplicated} / {disorder}", "all 0", lost == duplicated == disorder == 0,
    )
    report.add("drill: non-200 answers to readers", str(non_200), "0", non_200 == 0,
               note=f"{broken} connections broken by the kills, each resumed")
    report.add(
        "drill: writes answered 5xx (retried, same Idempotency-Key)", str(desk.server_errors), "(reported)",
        note=f"{desk.retries} retries, {desk.published} entries published once each, "
        f"{desk.in_flight} keys left in flight by a killed app process",
    )
    for name, seconds in recoveries.items():
        report.add(f"drill: kill -9 {name}: running again after", f"{seconds:.1f} s", "(reported)")
    report.add("drill: every event fanned out after the last write", f"{drained:.1f} s", "(reported)",
               note="outbox lag 0 on the metrics port; readers counted 3 s later")
    report.add(
        "drill: all readers cut and resumed: publish p99 10-15 s later", f"{p99_after:.0f} ms", "< 100 ms",
        p99_after < 100,
    )
    report.add(
        "drill: publish p99 before the cut (this machine's baseline now)", f"{p99_before:.0f} ms",
        "(reported)",
    )
    report.add(
        "drill: all readers cut and resumed: publish p99 < 100 ms again after",
        f"{recovered} s" if recovered is not None else "never", "<= 10 s",
        recovered is not None and recovered <= 10,
        note="p99 per second after the cut: " + " ".join(f"{ms:.0f}" for ms in by_second),
    )
    report.add("drill: readers on Nchan after resuming", f"{on_nchan:,} of {readers:,}", "all", on_nchan == readers,
               note="resumes by how they were served: " + (", ".join(
                   f"{k} {v:,.0f}" for k, v in sorted(resumes.items()) if v) or "none counted"))
    windows = [
        ", ".join(f"{k} {later.get(k, 0) - earlier.get(k, 0):.1f}" for k in sorted(later)
                  if later.get(k, 0) - earlier.get(k, 0) >= 0.05)
        for earlier, later in zip(cpu, cpu[1:], strict=False)
    ]
    report.add("drill: CPU seconds per process kind in each third of the 15 s after the cut", " | ".join(windows),
               "(reported)")
    report.add(
        "drill: memory per process kind before -> after (MiB PSS)",
        ", ".join(f"{k} {memory_before.get(k, 0)}->{v}" for k, v in sorted(memory_after.items())), "(reported)",
    )
    if lost or duplicated or disorder:
        report.fail(f"fault drill: {lost} lost, {duplicated} duplicated, {disorder} out of order")
    if non_200:
        report.fail(f"fault drill: {non_200} non-200 answers to readers")
