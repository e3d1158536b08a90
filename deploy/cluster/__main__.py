"""``python -m deploy.cluster``: the cluster in the foreground (what ``make
serve-cluster`` runs); Ctrl-C or SIGTERM stops every process it started."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from deploy.cluster.topology import Cluster, ClusterOptions


def parse_args(argv: list[str] | None = None) -> ClusterOptions:
    env = os.environ
    d = ClusterOptions()
    p = argparse.ArgumentParser(description="Run the multi-node cluster on loopback addresses.")
    p.add_argument("--run-dir", type=Path, default=Path(env.get("CLUSTER_RUN_DIR", d.run_dir)))
    p.add_argument("--port", type=int, default=int(env.get("CLUSTER_PORT", d.port)),
                   help="HTTP port of every node (each on its own address); the next five serve the rest")
    p.add_argument("--app-procs", type=int, default=int(env.get("CLUSTER_APP_PROCS", "2")),
                   help="uvicorn processes per app node")
    p.add_argument("--celery-concurrency", type=int, default=d.celery_concurrency)
    p.add_argument("--edge-workers", type=int, default=d.edge_workers)
    p.add_argument("--probe-path", default=env.get("CLUSTER_PROBE_PATH", d.probe_path),
                   help="what HAProxy and Varnish probe on the edges (default /readyz)")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for every app process")
    a = p.parse_args(argv)
    return ClusterOptions(
        run_dir=a.run_dir.resolve(), port=a.port, app_procs=a.app_procs, celery_concurrency=a.celery_concurrency,
        edge_workers=a.edge_workers, probe_path=a.probe_path,
        extra_env=dict(item.split("=", 1) for item in a.env),
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    cluster = Cluster(opts)

    def on_signal(signum, frame):
        cluster.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        cluster.start()
        print(
            f"Cluster on {opts.base_url}/ (HAProxy stats: http://{opts.front}:{opts.ports['stats']}/). "
            f"Run dir {opts.run_dir}. Ctrl-C stops it.",
            flush=True,
        )
        return cluster.wait()
    except Exception as exc:  # noqa: BLE001 - reported, then everything is stopped
        print(f"cluster: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
