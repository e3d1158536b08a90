"""The cluster on one machine: every node its own process group on its own
loopback address (Linux routes all of 127/8 to lo), started and stopped by
this module, ending only the pids it started.

    HAProxy (.11) -> Varnish x2 (.21, .22) -> edge nginx+Nchan x2 (.31, .32)
    -> app nodes x2 (.41, .42: uvicorn group + Celery worker; beat on .41)
    -> PgBouncer (.51, transaction mode) -> PostgreSQL (.52); Redis (.53)

:class:`Cluster` is both the foreground supervisor (``python -m
deploy.cluster``, ``make serve-cluster``) and the background starter a test
or benchmark uses as a context manager; its :meth:`Cluster.kill` and
:meth:`Cluster.start_node` are what the drills use. See deploy/README.md.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from deploy.profile import NCHAN_MODULE, ROOT, _raise_nofile, _world_traversable

HERE = Path(__file__).resolve().parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
HEARTBEAT_CHANNEL = "heartbeat.all"


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else PG_BIN


@dataclass
class ClusterOptions:
    run_dir: Path = ROOT / ".run" / "cluster"
    # Every HTTP node listens on ``port`` at its own address; the other
    # services take the next ports (see :attr:`ports`).
    port: int = 8100
    prefix: str = "127.0.0"
    caches: int = 2
    edges: int = 2
    apps: int = 2
    app_procs: int = 1  # uvicorn processes per app node
    celery_concurrency: int = 2
    edge_workers: int = 1
    # What HAProxy and Varnish probe on the edges (which proxy it to an app).
    probe_path: str = "/readyz"
    heartbeat_seconds: float = 15.0
    varnish_memory: str = "64m"
    extra_env: dict[str, str] = field(default_factory=dict)

    def addr(self, octet: int) -> str:
        return f"{self.prefix}.{octet}"

    @property
    def front(self) -> str:
        return self.addr(11)

    def cache_addr(self, i: int) -> str:
        return self.addr(21 + i)

    def edge_addr(self, i: int) -> str:
        return self.addr(31 + i)

    def app_addr(self, i: int) -> str:
        return self.addr(41 + i)

    @property
    def pgbouncer_addr(self) -> str:
        return self.addr(51)

    @property
    def postgres_addr(self) -> str:
        return self.addr(52)

    @property
    def redis_addr(self) -> str:
        return self.addr(53)

    @property
    def ports(self) -> dict[str, int]:
        p = self.port
        return {"http": p, "pub": p + 1, "stats": p + 2, "postgres": p + 3, "pgbouncer": p + 4, "redis": p + 5}

    @property
    def base_url(self) -> str:
        return f"http://{self.front}:{self.port}"

    @property
    def publish_url(self) -> str:
        return f"http://{self.front}:{self.ports['pub']}/pub"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.redis_addr}:{self.ports['redis']}/0"

    @property
    def database_url(self) -> str:
        """Through PgBouncer: what the app nodes use."""
        return f"postgres://postgres@{self.pgbouncer_addr}:{self.ports['pgbouncer']}/liveblog"

    @property
    def direct_database_url(self) -> str:
        """PostgreSQL itself: migrations and the drills' checks."""
        return f"postgres://postgres@{self.postgres_addr}:{self.ports['postgres']}/liveblog"

    def url(self, node: str) -> str:
        """Base URL of an HTTP node: ``front``, ``cache-1``, ``edge-2``, ``app-1``."""
        if node == "front":
            return self.base_url
        role, i = node.rsplit("-", 1)
        addr = {"cache": self.cache_addr, "edge": self.edge_addr, "app": self.app_addr}[role](int(i) - 1)
        return f"http://{addr}:{self.port}"

    def purge_urls(self) -> list[str]:
        return [f"http://{self.cache_addr(i)}:{self.port}/.xkey-purge" for i in range(self.caches)]


def render(template: str, values: dict[str, str]) -> str:
    text = (HERE / template).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise ValueError(f"unrendered placeholder in {template}")
    return text


def free_port_block(prefix: str = "127.0.0", size: int = 6, start: int = 20000, stop: int = 40000) -> int:
    """A base port whose next ``size`` ports are free on the wildcard address
    (so on every loopback address), for tests."""
    import random

    for _ in range(200):
        base = random.randrange(start, stop - size)  # noqa: S311 - a port, not a secret
        try:
            for p in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("0.0.0.0", p))  # noqa: S104 - a bind test, closed at once
        except OSError:
            continue
        return base
    raise RuntimeError("no free block of ports")


class Cluster:
    """Starts the cluster's processes, each in its own session (so a node is
    killed with its children), and stops them newest first."""

    def __init__(self, opts: ClusterOptions):
        self.opts = opts
        self.procs: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, tuple[list[str], dict[str, str], str | None]] = {}
        self.order: list[str] = []
        self.stopping = threading.Event()
        self.bin = Path(sys.executable).parent
        self.root = os.geteuid() == 0
        self.env: dict[str, str] = {}
        self.down: set[str] = set()  # nodes stopped on purpose (a drill)

    # --- files ---------------------------------------------------------------

    def _dir(self, *parts: str, owner: str | None = None) -> Path:
        path = self.opts.run_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        if owner and self.root:
            shutil.chown(path, owner, owner if owner != "nobody" else "nogroup")
        return path

    def prepare(self) -> None:
        o = self.opts
        o.run_dir.mkdir(parents=True, exist_ok=True)
        o.run_dir.chmod(0o755)
        self._dir("logs")
        with suppress(FileNotFoundError):
            (o.run_dir / "ready.json").unlink()
        if not _world_traversable(o.run_dir):
            raise RuntimeError(f"{o.run_dir} must be reachable by the postgres, nobody and varnish users")
        self._prepare_postgres()
        self._prepare_pgbouncer()
        self._render_edges()
        self._render_caches()
        self._render_haproxy()
        self.env = self._app_env()

    def _prepare_postgres(self) -> None:
        pg = self._dir("postgres", owner="postgres")
        data = pg / "data"
        if not (data / "PG_VERSION").exists():
            subprocess.run(
                [str(_pg_bin() / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--no-sync", "--no-instructions"],
                check=True, stdout=subprocess.DEVNULL, user="postgres" if self.root else None,
            )

    def _prepare_pgbouncer(self) -> None:
        o = self.opts
        d = self._dir("pgbouncer", owner="postgres")
        (d / "userlist.txt").write_text('"postgres" ""\n')
        (d / "pgbouncer.ini").write_text(
            "\n".join([
                "[databases]",
                f"* = host={o.postgres_addr} port={o.ports['postgres']}",
                "[pgbouncer]",
                f"listen_addr = {o.pgbouncer_addr}",
                f"listen_port = {o.ports['pgbouncer']}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {d / 'userlist.txt'}",
                # Transaction pooling: a server connection per transaction.
                "pool_mode = transaction",
                "max_client_conn = 2000",
                "default_pool_size = 40",
                "ignore_startup_parameters = extra_float_digits,options",
                # A restarting PostgreSQL: clients get an error within a
                # second or two (the app answers 503), not a 2-minute wait.
                "server_login_retry = 1",
                "query_wait_timeout = 5",
                "server_connect_timeout = 2",
                "log_connections = 0",
                "log_disconnections = 0",
                "",
            ])
        )
        if self.root:
            for f in d.iterdir():
                shutil.chown(f, "postgres", "postgres")

    def _user_line(self, tmp_dirs: list[Path]) -> str:
        if not self.root:
            return "# (not root: workers run as the current user)"
        if _world_traversable(ROOT / "staticfiles"):
            for d in tmp_dirs:
                shutil.chown(d, "nobody", "nogroup")
            return "user nobody nogroup;"
        return "user root root;"

    def _render_edges(self) -> None:
        o = self.opts
        nofile = _raise_nofile()
        upstream = "\n".join(
            f"        server {o.app_addr(i)}:{o.port} max_fails=1 fail_timeout=3s;" for i in range(o.apps)
        )
        for i in range(o.edges):
            d = self._dir(f"edge-{i + 1}")
            tmp = self._dir(f"edge-{i + 1}", "tmp")
            (d / "nginx-error.log").touch()
            conf = render("edge.conf.template", {
                "LOAD_NCHAN": f"load_module {NCHAN_MODULE};",
                "USER": self._user_line([tmp]),
                "WORKER_PROCESSES": str(o.edge_workers),
                "RLIMIT_NOFILE": str(nofile),
                "WORKER_CONNECTIONS": str(max(1024, min(nofile - 64, 40000))),
                "RUN_DIR": str(d),
                "UPSTREAM_SERVERS": upstream,
                "NCHAN_REDIS_URL": f"redis://{o.redis_addr}:{o.ports['redis']}",
                "ADDR": o.edge_addr(i),
                "PORT": str(o.port),
                "PUB_PORT": str(o.ports["pub"]),
                "NAME": f"edge-{i + 1}",
                "STATIC_ROOT": str(ROOT / "staticfiles"),
            })
            (d / "nginx.conf").write_text(conf)

    def _render_caches(self) -> None:
        o = self.opts
        backends = "\n".join(
            f'backend edge{i + 1} {{\n    .host = "{o.edge_addr(i)}";\n    .port = "{o.port}";\n'
            f"    .probe = edge_ready;\n    .connect_timeout = 1s;\n    .first_byte_timeout = 30s;\n}}"
            for i in range(o.edges)
        )
        adds = "\n".join(f"    edges.add_backend(edge{i + 1});" for i in range(o.edges))
        for i in range(o.caches):
            vcl = render("varnish.vcl.template", {
                "PROBE_PATH": o.probe_path, "BACKENDS": backends, "DIRECTOR_ADDS": adds, "NAME": f"cache-{i + 1}",
            })
            (o.run_dir / f"cache-{i + 1}.vcl").write_text(vcl)

    def _render_haproxy(self) -> None:
        o = self.opts
        edges = "\n".join(f"    server edge-{i + 1} {o.edge_addr(i)}:{o.port}" for i in range(o.edges))
        pubs = "\n".join(f"    server edge-{i + 1} {o.edge_addr(i)}:{o.ports['pub']}" for i in range(o.edges))
        caches = "\n".join(f"    server cache-{i + 1} {o.cache_addr(i)}:{o.port}" for i in range(o.caches))
        cfg = render("haproxy.cfg.template", {
            "MAXCONN": "9000", "FRONT": o.front, "PORT": str(o.port), "PUB_PORT": str(o.ports["pub"]),
            "STATS_PORT": str(o.ports["stats"]), "PROBE_PATH": o.probe_path, "CACHE_SERVERS": caches,
            "EDGE_SERVERS": edges, "EDGE_PUB_SERVERS": pubs,
        })
        (o.run_dir / "haproxy.cfg").write_text(cfg)

    def _app_env(self) -> dict[str, str]:
        o = self.opts
        secret_file = o.run_dir / "secret-key"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(48))
            secret_file.chmod(0o600)
        hosts = [o.front] + [o.cache_addr(i) for i in range(o.caches)] + [o.edge_addr(i) for i in range(o.edges)]
        hosts += [o.app_addr(i) for i in range(o.apps)] + ["127.0.0.1", "localhost"]
        env = dict(os.environ)
        for name in ("DATABASE_POOL", "DATABASE_TEST_NAME", "CELERY_BROKER_URL"):
            env.pop(name, None)
        env.update({
            "DJANGO_SETTINGS_MODULE": "liveblog.settings",
            "DATABASE_URL": o.database_url,
            "LIVEBLOG_PGBOUNCER": "1",
            "DATABASE_POOL": "1",
            "DATABASE_POOL_MAX": "8",
            "REDIS_URL": o.redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "LIVEBLOG_CHANNEL_BACKEND": "redis",
            "LIVEBLOG_NCHAN_PUBLISH_URL": o.publish_url,
            "LIVEBLOG_CDN_PURGE_URL": " ".join(o.purge_urls()),
            "LIVEBLOG_SITE_URL": o.base_url,
            "LIVEBLOG_WEBHOOK_CONCURRENCY": "200",
            # The balancers route by /readyz: a fan-out backlog (a dead
            # Celery worker) must not take every edge out of service; the
            # lag stays in /readyz's detail and on /metrics for alerting.
            "LIVEBLOG_READY_MAX_OUTBOX_LAG": "0",
            # The cache nodes' purge URLs are on loopback addresses.
            "LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE": "1",
            "ALLOWED_HOSTS": ",".join(hosts),
            "SECRET_KEY": secret_file.read_text().strip(),
            "PYTHONUNBUFFERED": "1",
        })
        env.update(o.extra_env)
        return env

    # --- processes -------------------------------------------------------------

    def _define(self) -> None:
        """The argv of every node, in start order."""
        o = self.opts
        pg = o.run_dir / "postgres"
        self.argv["postgres"] = ([
            str(_pg_bin() / "postgres"), "-D", str(pg / "data"), "-c", f"listen_addresses={o.postgres_addr}",
            "-c", f"port={o.ports['postgres']}", "-c", f"unix_socket_directories={pg}", "-c", "timezone=UTC",
            "-c", "max_connections=200", "-c", "shared_buffers=64MB", "-c", "logging_collector=off",
        ], {}, "postgres")
        redis_dir = self._dir("redis")
        self.argv["redis"] = ([
            # An append-only file: a restarted Redis keeps what the live
            # channel last handed to readers per blog, so the sweep's re-send
            # of an unconfirmed event is not a second copy for them (a Redis
            # that lost its data can send a seq twice; readers drop it).
            "redis-server", "--bind", o.redis_addr, "--port", str(o.ports["redis"]), "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(redis_dir),
            "--protected-mode", "no", "--daemonize", "no",
            "--maxclients", "10000",
        ], {}, None)
        self.argv["pgbouncer"] = (["pgbouncer", str(o.run_dir / "pgbouncer" / "pgbouncer.ini")], {}, "postgres")
        for i in range(o.apps):
            argv = [
                str(self.bin / "uvicorn"), "liveblog.asgi:application", "--host", o.app_addr(i),
                "--port", str(o.port), "--no-access-log", "--lifespan", "off", "--log-level", "warning",
                "--timeout-graceful-shutdown", "3", "--backlog", "4096", "--timeout-keep-alive", "75",
            ]
            if o.app_procs > 1:
                argv += ["--workers", str(o.app_procs)]
            self.argv[f"app-{i + 1}"] = (argv, self.env, None)
        celery = str(self.bin / "celery")
        for i in range(o.apps):
            self.argv[f"worker-{i + 1}"] = ([
                celery, "-A", "liveblog", "worker", "-l", "warning", "-n", f"app{i + 1}@cluster",
                "--concurrency", str(o.celery_concurrency), "--without-gossip", "--without-mingle",
            ], self.env, None)
        # Exactly one beat, on the first app node.
        self.argv["beat"] = ([
            celery, "-A", "liveblog", "beat", "-l", "warning", "-s", str(o.run_dir / "celerybeat-schedule"),
            "--pidfile=",
        ], self.env, None)
        for i in range(o.edges):
            d = o.run_dir / f"edge-{i + 1}"
            self.argv[f"edge-{i + 1}"] = (["nginx", "-p", str(d), "-c", str(d / "nginx.conf")], {}, None)
        for i in range(o.caches):
            self.argv[f"cache-{i + 1}"] = ([
                "varnishd", "-F", "-n", str(o.run_dir / f"cache-{i + 1}"), "-a", f"{o.cache_addr(i)}:{o.port}",
                "-T", "none", "-f", str(o.run_dir / f"cache-{i + 1}.vcl"), "-s", f"malloc,{o.varnish_memory}",
                "-p", "thread_pool_min=20", "-p", "thread_pools=1",
            ], {}, None)
        self.argv["haproxy"] = (["haproxy", "-db", "-f", str(o.run_dir / "haproxy.cfg")], {}, None)

    def start_node(self, name: str) -> subprocess.Popen:
        """Start (or start again) one node; returns at once."""
        old = self.procs.get(name)
        if old is not None and old.poll() is None:
            raise RuntimeError(f"{name} is running")
        argv, env, user = self.argv[name]
        log = open(self.opts.run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        # If this supervisor dies without stopping the cluster (killed by a
        # CI timeout), the kernel signals the node: nothing outlives it.
        death = int(signal.SIGINT if name == "postgres" else signal.SIGTERM)
        proc = subprocess.Popen(
            argv, env=env or None, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            user=user if (user and self.root) else None, preexec_fn=lambda: _die_with_parent(death),
        )
        log.close()
        self.procs[name] = proc
        self.down.discard(name)
        if name not in self.order:
            self.order.append(name)
        self._write_pids()
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 15) -> None:
        """Signal the node's whole process group (a uvicorn group, a Celery
        worker and its children, nginx and its workers) and wait for it.

        The group is the one this module started (``start_new_session``:
        its id is the node's pid). Its leader is reaped only after the last
        SIGKILL to the group, so the group id cannot have been handed to
        another process in between."""
        proc = self.procs[name]
        self.down.add(name)
        if proc.returncode is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            if not _exited(proc.pid, timeout):
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _exited(proc.pid, 5)
            # Children left in the group (e.g. prefork children of a killed
            # worker), while the unreaped leader still holds the group id.
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        self._write_pids()

    def stop_node(self, name: str, timeout: float = 15) -> None:
        """The graceful stop each engine understands, then :meth:`kill`."""
        # PostgreSQL: SIGINT is the fast shutdown; nginx: SIGQUIT the graceful one.
        sig = signal.SIGINT if name == "postgres" else signal.SIGQUIT if name.startswith("edge") else signal.SIGTERM
        proc = self.procs[name]
        self.down.add(name)
        if proc.returncode is None:
            with suppress(ProcessLookupError):
                proc.send_signal(sig)
            _exited(proc.pid, timeout)
        self.kill(name)

    def start(self, timeout: float = 120) -> None:
        self.prepare()
        self._define()
        o = self.opts
        deadline = time.monotonic() + timeout
        self.start_node("postgres")
        self.start_node("redis")
        self.wait_postgres(deadline)
        self.wait_tcp(o.redis_addr, o.ports["redis"], deadline)
        self._ensure_database()
        manage = [sys.executable, str(ROOT / "manage.py")]
        direct = dict(self.env, DATABASE_URL=o.direct_database_url, LIVEBLOG_PGBOUNCER="0", DATABASE_POOL="0")
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=direct, cwd=ROOT, check=True, timeout=timeout)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], env=direct, cwd=ROOT, check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL)
        # Each wait below has the whole ``timeout`` again: on a machine shared
        # with other work, migrating a fresh database alone can take a minute.
        deadline = time.monotonic() + timeout
        self.start_node("pgbouncer")
        self.wait_tcp(o.pgbouncer_addr, o.ports["pgbouncer"], deadline)
        for name in self.argv:
            if name not in self.procs:
                self.start_node(name)
        self.wait_ready(deadline)
        threading.Thread(target=self._heartbeat, daemon=True).start()
        for i in range(o.edges):
            threading.Thread(target=self._watch_edge, args=(f"edge-{i + 1}",), daemon=True).start()
        (o.run_dir / "ready.json").write_text(json.dumps({
            "base_url": o.base_url, "publish_url": o.publish_url, "supervisor": os.getpid(),
            "pids": {name: p.pid for name, p in self.procs.items()},
        }))

    def _ensure_database(self) -> None:
        import psycopg

        admin = self.opts.direct_database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            if conn.execute("select 1 from pg_database where datname = 'liveblog'").fetchone() is None:
                conn.execute("create database liveblog")

    # --- waiting ---------------------------------------------------------------

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if name not in self.down and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.opts.run_dir}/logs/{name}.log")

    def wait_tcp(self, host: str, port: int, deadline: float) -> None:
        while True:
            self.check_alive()
            with suppress(OSError), socket.create_connection((host, port), timeout=1):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {host}:{port}")
            time.sleep(0.1)

    def wait_postgres(self, deadline: float) -> None:
        import psycopg

        admin = self.opts.direct_database_url.rsplit("/", 1)[0] + "/postgres"
        while True:
            self.check_alive()
            try:
                psycopg.connect(admin, connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def wait_ready(self, deadline: float) -> None:
        o = self.opts
        urls = [o.url(f"app-{i + 1}") + o.probe_path for i in range(o.apps)]
        urls += [o.url(f"edge-{i + 1}") + o.probe_path for i in range(o.edges)]
        urls += [o.url(f"cache-{i + 1}") + "/.varnish-health" for i in range(o.caches)]
        urls += [o.base_url + o.probe_path]
        while not all(answers(u) for u in urls):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not answer; see {o.run_dir}/logs")
            time.sleep(0.2)
        # HAProxy marks a server up after its next good check.
        while (down := [k for k, v in self.haproxy_servers().items() if v != "UP"]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy still sees {down} down")
            time.sleep(0.2)

    def haproxy_servers(self) -> dict[str, str]:
        """``{"backend/server": status}`` from HAProxy's stats (CSV)."""
        url = f"http://{self.opts.front}:{self.opts.ports['stats']}/;csv"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                lines = response.read().decode().splitlines()
        except OSError:
            return {"haproxy": "DOWN"}
        head = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(head, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            f"{r['pxname']}/{r['svname']}": r["status"].split()[0]
            for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")
        }

    # --- run and stop ------------------------------------------------------------

    def _heartbeat(self) -> None:
        url = f"{self.opts.publish_url}/{HEARTBEAT_CHANNEL}"
        while not self.stopping.wait(self.opts.heartbeat_seconds):
            with suppress(OSError):
                urllib.request.urlopen(urllib.request.Request(url, data=b": heartbeat\n"), timeout=5).read()

    def _watch_edge(self, name: str) -> None:
        """A reader of the heartbeat channel on one edge. Nchan 1.3.6 may
        not resubscribe after Redis restarts (its readers stay connected and
        hear nothing: the "restart Redis" drill found it); when no heartbeat
        arrives for three intervals the edge is reloaded, which cuts its
        streams, and its readers come back with Last-Event-ID."""
        addr = self.opts.url(name).split("//", 1)[1]
        host, port = addr.split(":")
        silence = 3 * self.opts.heartbeat_seconds + 1
        while not self.stopping.is_set():
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None or name in self.down:
                self.stopping.wait(1)
                continue
            try:
                with socket.create_connection((host, int(port)), timeout=silence) as sock:
                    sock.sendall(f"GET /live/cluster-watchdog/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                    while not self.stopping.is_set() and sock.recv(4096):
                        pass
                    continue  # the edge closed the stream (stopped, reloaded): watch again
            except TimeoutError:
                if self.stopping.is_set() or proc.poll() is not None or name in self.down:
                    continue
                line = f"{time.strftime('%H:%M:%S')} no heartbeat on {name} for {silence:.0f}s; reloading it\n"
                with open(self.opts.run_dir / "logs" / "watchdog.log", "a") as log:
                    log.write(line)
                with suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGHUP)
            except OSError:
                pass
            self.stopping.wait(1)

    def wait(self) -> int:
        while not self.stopping.is_set():
            for name, proc in self.procs.items():
                if name not in self.down and proc.poll() is not None:
                    print(f"cluster: {name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    return 1
            self.stopping.wait(0.5)
        return 0

    def stop(self) -> None:
        self.stopping.set()
        for name in reversed(self.order):
            if name in self.procs:
                self.stop_node(name, timeout=10)
        with suppress(FileNotFoundError):
            (self.opts.run_dir / "ready.json").unlink()
        self._write_pids()

    def _write_pids(self) -> None:
        alive = {name: p.pid for name, p in self.procs.items() if p.poll() is None}
        with suppress(OSError):
            (self.opts.run_dir / "pids.json").write_text(json.dumps(alive))

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for our child ``pid`` to exit, leaving it
    unreaped (a zombie keeps its pid and group id from being reused)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True  # already reaped
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(sig: int) -> None:
    """prctl(PR_SET_PDEATHSIG): ``sig`` to this process when its parent
    thread exits (runs in the child between fork and exec: no imports)."""
    _LIBC.prctl(1, sig, 0, 0, 0)


def answers(url: str, ok_only: bool = True) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 400 or not ok_only
    except urllib.error.HTTPError as exc:
        return not ok_only and exc.code < 500
    except OSError:
        return False
