"""The cluster section of ``make bench`` (phase ``cluster``): the figures a
capacity model for a million readers is built from, measured on
:mod:`deploy.cluster` (HAProxy, Varnish, two Nchan edges, two app nodes,
PgBouncer, its own PostgreSQL and Redis) on loopback addresses.

1. HAProxy alone: ``wrk`` on an answer HAProxy makes itself
   (``/.haproxy-ping``), and its stream ceiling from its file handles (two
   per proxied stream), which is why capacity readers connect to the edges.
2. Readers per edge: :mod:`bench.sse_client` processes (2,500 streams
   each) hold half the readers on each edge directly, as fresh streams
   (Nchan's); memory per connection is each edge's nginx PSS growth over
   its readers; publish -> receive p50/p99 over every reader of both edges,
   entries published through HAProxy; the edges' CPU time per delivered
   frame (nginx workers' utime + stime over the publishing window).
3. Publishes per second per app node: four writers POST entries for a few
   seconds to one app node (pinned with ``sched_setaffinity``, as
   ``taskset -a -p`` does, to core 0 with its Celery worker), then to both
   at once (node 2 on core 1). PostgreSQL, PgBouncer, Redis and the edges
   are not pinned: they share both cores.

:func:`capacity_model` turns the figures into nodes for 1,000,000 readers.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from deploy.cluster import Cluster, ClusterOptions, free_port_block
from deploy.profile import ROOT

from .runner import (
    Api,
    _finish_clients,
    _nginx_workers,
    _start_clients,
    fresh_nginx_workers,
    nginx_pss_kb,
    percentile,
    wrk,
)

TICKS = os.sysconf("SC_CLK_TCK")


def nginx_cpu_seconds(run_dir: Path) -> float:
    """utime + stime of an nginx instance's workers, in seconds."""
    master = int((run_dir / "nginx.pid").read_text().strip())
    total = 0
    for pid in _nginx_workers(master):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def pin(cluster: Cluster, names: list[str], cpus: set[int]) -> None:
    """Every thread of every process of these nodes onto ``cpus``."""
    for name in names:
        for pid in _group_pids(cluster.procs[name].pid):
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    os.sched_setaffinity(int(tid), cpus)
                except OSError:
                    continue


def _writers(base: str, token: str, slug: str, threads: int, seconds: float) -> tuple[int, int]:
    """(entries accepted, other answers) from ``threads`` writers for ``seconds``."""
    counts = {"ok": 0, "bad": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def write():
        api = Api(base, token)
        try:
            n = 0
            while time.monotonic() < stop_at:
                status, _ = api.post_entry(slug, f"Throughput {n}")
                n += 1
                with lock:
                    counts["ok" if status == 201 else "bad"] += 1
        finally:
            api.close()

    workers = [threading.Thread(target=write) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=seconds + 60)
    return counts["ok"], counts["bad"]


def _token(cluster: Cluster) -> str:
    env = dict(cluster.env, DATABASE_URL=cluster.opts.direct_database_url, LIVEBLOG_PGBOUNCER="0", DATABASE_POOL="0")
    return subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "bench-cluster", "--role", "editor"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]


def _new_blog(api_base: str, token: str) -> tuple[str, int]:
    import http.client
    import json

    slug = f"bench-cluster-{uuid.uuid4().hex[:6]}"
    host, port = api_base.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/api/blogs", body=json.dumps({"title": "Cluster bench", "slug": slug, "status": "live"}),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    if resp.status != 201:
        raise RuntimeError(f"creating the bench blog answered {resp.status}: {data}")
    return slug, data["seq"]


def phase_cluster(report, plan, run_dir: Path) -> None:
    readers = int(os.environ.get("BENCH_CLUSTER_READERS", plan.cluster_readers))
    print(f"\n[5] cluster: HAProxy alone, {readers:,} readers over two edges, publishes per app node", flush=True)
    opts = ClusterOptions(
        run_dir=run_dir, port=free_port_block(), app_procs=1, celery_concurrency=2,
        # One worker per edge: with two, Debian's Nchan 1.3.6 in Redis mode
        # crashed (SIGSEGV) at 5,000 readers per worker on the first branch,
        # and a worker sometimes misses a whole message (bench/nchan_probe.py,
        # bench/README.md "Nchan in Redis mode"). Scale with more edges.
        edge_workers=int(os.environ.get("BENCH_EDGE_WORKERS", "1")),
        extra_env={"LOG_LEVEL": "WARNING"},
    )
    details: dict = {"readers": readers}
    with Cluster(opts) as cluster:
        token = _token(cluster)
        slug, seq = _new_blog(opts.base_url, token)

        # 1. HAProxy on its own.
        r = wrk(f"{opts.base_url}/.haproxy-ping", plan.wrk_seconds * 2, plan.wrk_connections)
        details["haproxy ping"] = r
        report.add("cluster: HAProxy alone (its own answer), req/s", f"{r['rps']:,.0f}", "(reported)", None,
                   note=f"wrk -t2 -c{plan.wrk_connections}, p99 {r['p99_ms']:.1f} ms")
        nofile = 20000
        details["haproxy stream ceiling"] = (nofile - 100) // 2
        report.add("cluster: HAProxy streams per process (2 handles each)", f"{(nofile - 100) // 2:,}",
                   "(computed)", None, note=f"of {nofile:,} file handles a process may hold here")

        # 2. Readers on both edges, publish -> receive.
        edge_dirs = [opts.run_dir / f"edge-{i + 1}" for i in range(opts.edges)]
        for d in edge_dirs:
            fresh_nginx_workers(d)
        before = [nginx_pss_kb(d) for d in edge_dirs]
        per_edge = readers // opts.edges
        procs = []
        for i in range(opts.edges):
            # A fresh stream, as the page opens it: Nchan holds it (a resume
            # point would send it to the app's replaying stream).
            url = f"{opts.url(f'edge-{i + 1}')}/live/{slug}/events"
            out = run_dir / "logs" / f"readers-edge-{i + 1}"  # one result file per client process
            out.mkdir(parents=True, exist_ok=True)
            procs += _start_clients(url, per_edge, deadline=plan.deadline, run_dir=out)
        connected = failed = 0
        probes: list[str] = []
        api = Api(opts.base_url, token)
        try:
            for proc in procs:
                ready = proc.stdout.readline().split()
                if not ready or ready[0] != "READY":
                    raise RuntimeError(f"SSE client did not start: {ready}")
                connected += int(ready[1])
                failed += int(ready[2])
            time.sleep(1.0)
            after = [nginx_pss_kb(d) for d in edge_dirs]
            cpu_before = sum(nginx_cpu_seconds(d) for d in edge_dirs)
            for i in range(plan.latency_probes):
                marker = f"{time.time():.6f}"
                status, _ = api.post_entry(slug, f"Cluster probe {i} bench-t={marker}")
                if status != 201:
                    report.fail(f"cluster: publish answered {status}")
                probes.append(marker)
                time.sleep(0.4)
            time.sleep(3.0)
            cpu_used = sum(nginx_cpu_seconds(d) for d in edge_dirs) - cpu_before
        finally:
            api.close()
            results = _finish_clients(procs)
        crashes = sum(
            (d / "nginx-error.log").read_text(errors="replace").count("exited on signal") for d in edge_dirs
        )
        details["edge_worker_crashes"] = crashes
        if crashes:
            report.fail(f"cluster: {crashes} edge worker(s) crashed (see {run_dir}/edge-*/nginx-error.log)")
        samples = [ms for p in probes for r in results for ms in r["samples"].get(p, [])]
        missing = connected * len(probes) - len(samples)
        per_message = [sum(len(r["samples"].get(p, [])) for r in results) for p in probes]
        # The heartbeat and anything else the edges wrote meanwhile count
        # against the deliveries: a bound, not flattery.
        us_per_delivery = cpu_used * 1e6 / max(1, len(samples))
        if failed or connected != per_edge * opts.edges:
            report.fail(f"cluster: {connected} readers connected, {failed} failed")
        if missing:
            report.fail(f"cluster: {missing} deliveries missing of {connected * len(probes)}: per message {per_message}")
        kib = [(a - b) / max(1, per_edge) for a, b in zip(after, before, strict=True)]
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        details.update({"connected": connected, "failed": failed, "missing": missing, "kib_per_reader": kib,
                        "p50_ms": p50, "p99_ms": p99, "readers_per_edge": per_edge,
                        "edge_workers": opts.edge_workers, "us_per_delivery": us_per_delivery,
                        "delivered_per_message": per_message})
        report.add(f"cluster: {connected:,} readers over 2 edges, publish->receive p50 / p99",
                   f"{p50:.0f} / {p99:.0f} ms", "(reported)", None,
                   note=f"{len(samples):,} deliveries, {per_edge:,} readers per edge, published through HAProxy")
        report.add("cluster: memory per reader, edge 1 / edge 2 (nginx PSS)", " / ".join(f"{k:.1f} KiB" for k in kib),
                   "(reported)", None)
        report.add("cluster: edge CPU per delivered frame (nginx workers)", f"{us_per_delivery:.1f} us",
                   "(reported)", None, note=f"{cpu_used:.2f} CPU s for {len(samples):,} deliveries; crashes {crashes}")

        # 3. Publishes per second: one node pinned to core 0, then both.
        seconds = plan.cluster_publish_seconds
        cores = sorted(os.sched_getaffinity(0))
        pin(cluster, ["app-1", "worker-1"], {cores[0]})
        pin(cluster, ["app-2", "worker-2"], {cores[-1]})
        one, bad1 = _writers(opts.url("app-1"), token, slug, 4, seconds)
        two_counts: list[tuple[int, int]] = []
        threads = [
            threading.Thread(target=lambda n=n: two_counts.append(_writers(opts.url(n), token, slug, 4, seconds)))
            for n in ("app-1", "app-2")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 90)
        two = sum(c[0] for c in two_counts)
        bad = bad1 + sum(c[1] for c in two_counts)
        if bad:
            report.fail(f"cluster: {bad} publishes not accepted")
        rate1, rate2 = one / seconds, two / seconds
        details.update({"publish_per_s_one_node": rate1, "publish_per_s_two_nodes": rate2})
        report.add("cluster: publishes/s, one app node (core 0) / two (cores 0, 1)",
                   f"{rate1:.0f} / {rate2:.0f}", "(reported)", None,
                   note=f"4 writers per node for {seconds} s; x{rate2 / max(rate1, 0.001):.2f} with the second node")
    report.details["cluster"] = details


def capacity_model(details: dict, cpu_ms: float) -> str:
    """The capacity model for 1,000,000 concurrent readers, from the figures
    (markdown). Per edge, the reader ceiling is the smaller of memory and
    the write budget (edge CPU per delivered frame, measured)."""
    kib = max(details["kib_per_reader"])
    p99 = details["p99_ms"]
    per_edge_measured = details["readers_per_edge"]
    us = max(details.get("us_per_delivery", 0.0), 0.1)
    rate1 = details["publish_per_s_one_node"]
    rate2 = details["publish_per_s_two_nodes"]
    target = 1_000_000
    crashed = details.get("edge_worker_crashes", 0)
    # An edge: 8 cores, 16 GiB for Nchan; it writes 1e6 / us frames per
    # second per core (one nginx instance per core: one worker each, see
    # the crash note), with half of each core kept as headroom.
    cores, memory_kib, headroom = 8, 16 * 1024 * 1024, 0.5
    per_core = 1e6 / us
    budget = per_core * cores * headroom
    mem_cap = int(memory_kib / kib)
    # Readers per nginx worker are taken no higher than measured clean here
    # (Nchan 1.3.6 crashed in Redis mode at 5,000-10,000 per worker once).
    per_worker = per_edge_measured // max(1, details.get("edge_workers", 1))
    proven_cap = per_worker * cores
    p_steady = int(min(mem_cap, budget / 0.1, proven_cap))  # one event per 10 s
    edges = math.ceil(target / p_steady) + 1
    burst_writes = target * 100  # 100 events to every reader
    burst_seconds = burst_writes / (budget * (edges - 1))
    edges_burst = math.ceil(burst_writes / 5 / budget) + 1
    app_nodes = max(2, math.ceil(20 / max(rate1, 0.1)))
    return "\n".join([
        "## Cluster and the capacity model",
        "",
        *([f"**{crashed} edge worker(s) crashed during this run and "
           f"{details['missing']:,} deliveries were lost: the figures below are not a clean run.**", ""]
          if crashed or details.get("missing") else []),
        f"Measured by `make bench` phase `cluster` (bench/cluster.py) on deploy/cluster; CPU reference "
        f"{cpu_ms:.0f} ms; the machine's 2 cores were shared with other work while measuring (see the notes "
        "under the table), so every figure is a low bound.",
        "",
        f"- Readers per edge measured: {per_edge_measured:,} on each of two edges "
        f"({details.get('edge_workers', 1)} nginx worker each); memory per reader {kib:.1f} KiB (nginx PSS); "
        f"publish -> receive p50 / p99 {details['p50_ms']:.0f} / {p99:.0f} ms over all "
        f"{per_edge_measured * 2:,} readers (the readers' own clients ran on the same two cores).",
        f"- Edge CPU per delivered frame: {us:.1f} us, so w = {per_core:,.0f} frames/s per core.",
        f"- Publishes/s: {rate1:.0f} with one app node (pinned to one core), {rate2:.0f} with two "
        f"(x{rate2 / max(rate1, 0.001):.2f}); PostgreSQL, PgBouncer and Redis shared the same cores.",
        "",
        "Formula (R readers, E events/s, edges of C cores and M bytes for Nchan, w frames/s per core at "
        "50% load, m bytes per reader):",
        "",
        "- readers per edge P = min(M / m, w x C x 0.5 / E, N x C), N the readers per nginx worker measured "
        "clean (one single-worker nginx per core); edges = ceil(R / P) + 1 spare;",
        "- a burst of B events reaches every reader in R x B / (w x C x 0.5 x (edges - 1)) seconds; to deliver "
        "it in T seconds: edges = ceil(R x B / T / (w x C x 0.5)) + 1;",
        "- app nodes: the newsroom's writes, not the readers' (reads are cache hits plus one request per URL "
        f"per max-age per cache node): a burst of 100 in 5 s is 20 publishes/s; one node did {rate1:.0f}/s "
        f"here, so max(2, ceil(20 / {rate1:.0f})) = **{app_nodes} app nodes**;",
        "- Celery workers: one fan-out per event (one Nchan publish, one purge per cache node, webhook "
        "batches): 2 workers cover 20 events/s; add workers for webhook partners.",
        "",
        f"For R = 1,000,000, C = {cores}, M = 16 GiB, w = {per_core:,.0f}, m = {kib:.1f} KiB, N = "
        f"{per_worker:,}: memory allows {mem_cap:,} readers per edge, one event per 10 s allows "
        f"{int(budget / 0.1):,}, the readers per worker measured clean {proven_cap:,}; so P = {p_steady:,} "
        f"and **{edges} edges** (with the spare). A burst of 100 events in 5 s is {burst_writes:,} frames: "
        f"those {edges} edges deliver it in {burst_seconds:,.0f} s; delivering it within 5 s takes "
        f"**{edges_burst} edges**. The next bottleneck is **Nchan's write rate per edge** in a burst (and "
        "Nchan 1.3.6's stability in Redis mode, see bench/README.md); after it Redis pub/sub (one message "
        f"per event per edge worker: {edges_burst} x 20/s in the burst, trivial for one Redis), then "
        "PostgreSQL writes (20 entries/s with their events through PgBouncer, far inside one primary). "
        "Readers lose nothing in a slow burst: frames queue on the edge, and SSE carries every seq.",
        "",
    ])


def upsert_section(path: Path, section: str) -> None:
    """Put the cluster section into ``path`` (bench/CAPACITY.md), replacing
    an older one and keeping the rest of the file."""
    text = path.read_text() if path.exists() else "# Capacity past one machine\n"
    marker = "## Cluster and the capacity model"
    if marker in text:
        head, rest = text.split(marker, 1)
        nxt = rest.find("\n## ")
        text = head + section + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
