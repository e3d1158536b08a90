"""Does Debian's Nchan hold N readers per worker in Redis mode? One nginx
(Nchan only, no app) and its own redis-server on loopback addresses, N SSE
readers (bench/sse_client.py processes), a few published messages; reports
connected readers, deliveries missing, p50/p99, edge memory per reader and
worker crashes ("exited on signal" in nginx's error log). See bench/README.md
("Nchan in Redis mode") for what it found.

Run: ``python -m bench.nchan_probe --readers 8000 --storage nostore``. Every
process it starts is stopped by pid when it ends; every loop has a deadline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from deploy.cluster import free_port_block
from deploy.profile import NCHAN_MODULE, ROOT

from .runner import _finish_clients, _start_clients, nginx_pss_kb, percentile

REDIS_ADDR = "127.0.0.60"


def edge_addr(i: int) -> str:
    return f"127.0.0.{61 + i}"

CONF = """load_module {module};
worker_processes {workers};
worker_rlimit_nofile 19500;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log notice;
daemon off;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    client_body_temp_path {run}/tmp;
    nchan_shared_memory_size 128m;
    {upstream}
    server {{
        listen {addr}:{port} backlog=4096;
        location ~ ^/live/([-\\w]+)/events$ {{
            nchan_subscriber http-raw-stream;
            {pass_}
            nchan_channel_id {channels};
            nchan_subscriber_http_raw_stream_separator "\\n";
            nchan_subscriber_first_message newest;
        }}
        location ~ ^/pub/([^/]+)$ {{
            nchan_publisher http;
            {pass_}
            nchan_channel_id $1;
            nchan_message_buffer_length {buffer};
            nchan_message_timeout 10s;
        }}
    }}
}}
"""


def render(run: Path, addr: str, port: int, redis_port: int, workers: int, storage: str, multiplex: bool,
           buffer: int | None = None) -> str:
    """``storage``: memory (no Redis), distributed (Nchan's default Redis
    mode), nostore (Redis carries messages only, Nchan stores none).
    ``multiplex``: each reader also subscribes to ``heartbeat.all``, as the
    edges do."""
    if storage == "memory":
        upstream, pass_, buffer = "", "", 16 if buffer is None else buffer
    else:
        mode = f"nchan_redis_storage_mode {storage};"
        fast = "nchan_redis_nostore_fastpublish on;" if storage == "nostore" else ""
        upstream = (
            f'upstream nchan_redis {{ nchan_redis_server "redis://{REDIS_ADDR}:{redis_port}"; {mode} {fast} }}'
        )
        pass_, buffer = "nchan_redis_pass nchan_redis;", (0 if storage == "nostore" else 16) if buffer is None else buffer
    return CONF.format(module=NCHAN_MODULE, workers=workers, run=run, upstream=upstream, pass_=pass_,
                       addr=addr, port=port, buffer=buffer,
                       channels="$1 heartbeat.all" if multiplex else "$1")


def probe(readers: int, workers: int, storage: str, messages: int, run: Path, multiplex: bool = True,
          buffer: int | None = None, edges: int = 1, size: int = 0, resume: str = "") -> dict:
    """``edges`` nginx instances share the Redis (readers split evenly,
    every message published through the first); ``size`` pads each
    message to about that many bytes (an entry's JSON is 1-2 KiB);
    ``resume``: readers connect with ``?last_event_id=<resume>``, which
    Nchan takes as a message id to resume from (its default
    ``nchan_subscriber_last_message_id``), as the first cluster bench did."""
    if edges > 1 and storage == "memory":
        raise SystemExit("several edges share channels only through Redis")
    shutil.rmtree(run, ignore_errors=True)
    port = free_port_block(size=2)
    runs = [run / f"edge-{i + 1}" for i in range(edges)]
    procs: list[subprocess.Popen] = []
    clients: list[subprocess.Popen] = []
    markers: list[str] = []
    publish = f"http://{edge_addr(0)}:{port}/pub"
    try:
        if storage != "memory":
            procs.append(subprocess.Popen(
                ["redis-server", "--bind", REDIS_ADDR, "--port", str(port + 1), "--save", "", "--appendonly", "no",
                 "--protected-mode", "no", "--maxclients", "10000"],
                stdout=subprocess.DEVNULL, start_new_session=True,
            ))
            time.sleep(0.5)
        for i, d in enumerate(runs):
            (d / "tmp").mkdir(parents=True)
            conf = render(d, edge_addr(i), port, port + 1, workers, storage, multiplex, buffer)
            (d / "nginx.conf").write_text(conf)
            procs.append(subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf")],
                                          start_new_session=True, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 15
        while not all((d / "nginx.pid").exists() for d in runs):
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start")
            time.sleep(0.1)
        time.sleep(0.5)
        before = [nginx_pss_kb(d) for d in runs]
        for i, d in enumerate(runs):
            query = f"?last_event_id={resume}" if resume else ""
            clients += _start_clients(f"http://{edge_addr(i)}:{port}/live/probe/events{query}", readers // edges,
                                      deadline=240, run_dir=d)
        connected = failed = 0
        for c in clients:
            ready = c.stdout.readline().split()
            connected += int(ready[1]) if ready else 0
            failed += int(ready[2]) if ready else 0
        time.sleep(1)
        after = [nginx_pss_kb(d) for d in runs]
        pad = "x" * max(0, size - 80)
        for i in range(messages):
            marker = f"{time.time():.6f}"
            body = f"retry: 3000\nid: {i + 1}\nevent: entry.published\ndata: bench-t={marker} {pad}\n".encode()
            urllib.request.urlopen(urllib.request.Request(f"{publish}/probe", data=body), timeout=10).read()  # noqa: S310
            markers.append(marker)
            if multiplex:
                urllib.request.urlopen(urllib.request.Request(f"{publish}/heartbeat.all",  # noqa: S310
                                                              data=b": heartbeat\n"), timeout=10).read()
            time.sleep(0.5)
        time.sleep(3)
    finally:
        results = _finish_clients(clients) if clients else []
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if proc is procs[0] and storage != "memory" else signal.SIGQUIT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
    samples = [ms for m in markers for r in results for ms in r["samples"].get(m, [])]
    logs = "".join((d / "nginx-error.log").read_text(errors="replace") for d in runs if (d / "nginx-error.log").exists())
    return {
        "storage": storage, "buffer": buffer, "multiplex": multiplex, "edges": edges, "workers": workers,
        "readers": readers, "size": size, "resume": resume, "connected": connected, "failed": failed,
        "closed_early": sum(r.get("closed_early", 0) for r in results),
        "missing": connected * len(markers) - len(samples),
        "delivered_per_message": [sum(len(r["samples"].get(m, [])) for r in results) for m in markers],
        "p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99),
        "kib_per_reader": [round((a - b) / max(1, readers // edges), 1) for a, b in zip(after, before, strict=True)],
        "crashes": logs.count("exited on signal"),
        "crash_lines": [line[-160:] for line in logs.splitlines() if "exited on signal" in line][:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--storage", choices=["memory", "distributed", "nostore"], default="distributed")
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--buffer", type=int, default=None, help="nchan_message_buffer_length (default 16; nostore 0)")
    parser.add_argument("--edges", type=int, default=1, help="nginx instances sharing the Redis")
    parser.add_argument("--size", type=int, default=1500, help="bytes per message")
    parser.add_argument("--resume", default="", help="readers send ?last_event_id=<this> (e.g. 5)")
    parser.add_argument("--single", action="store_true", help="one channel per reader (the edges multiplex two)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run" / "nchan-probe")
    args = parser.parse_args(argv)
    result = probe(args.readers, args.workers, args.storage, args.messages, args.run_dir, not args.single, args.buffer,
                   args.edges, args.size, args.resume)
    print(json.dumps(result), flush=True)
    return 1 if result["crashes"] or result["missing"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
