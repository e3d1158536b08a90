"""The production profile on one machine (``make serve-prod``): renders nginx
and supervisord configs and runs nginx+Nchan, uvicorn processes, Celery
worker and beat under supervisord, ready once ``/readyz`` answers. Over 400
lines: the renderers, the supervisor and the background runner tests use
share one Options. See deploy/README.md."""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
LOGROTATE_TEMPLATE = Path(__file__).resolve().parent / "logrotate.conf.template"
SECRET_NAMES = ("SECRET_KEY", "LIVEBLOG_VAPID_PRIVATE_KEY", "LIVEBLOG_VAPID_PUBLIC_KEY")
SUPERVISORD_TEMPLATE = Path(__file__).resolve().parent / "supervisord.conf.template"
NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
BROTLI_STATIC_MODULE = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so"
HEARTBEAT_CHANNEL = "heartbeat.all"  # posts.delivery.nchan.HEARTBEAT_CHANNEL


def local_postgres(name: str) -> str:
    """The local PostgreSQL: over its unix socket when there is one (a query
    round trip is about 0.1 ms there against 0.2 ms over loopback TCP)."""
    if Path("/var/run/postgresql/.s.PGSQL.5432").exists():
        return f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{name}"
    return f"postgres://postgres@127.0.0.1:5432/{name}"


@dataclass
class Options:
    run_dir: Path = ROOT / ".run" / "prod"
    host: str = "127.0.0.1"
    port: int = 8080
    pub_port: int = 8081
    metrics_port: int = 8082
    app_procs: int = max(2, os.cpu_count() or 2)
    celery_concurrency: int = 4
    database_url: str = field(default_factory=lambda: local_postgres("liveblog"))
    redis_url: str = "redis://127.0.0.1:6379/0"
    access_log: bool = True
    beat: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    # Make a throwaway secret key and VAPID pair in the run directory when
    # the environment has none (the bench and tests; a trial on loopback).
    generate_secrets: bool = False
    # A redis-server of the profile's own on this port (the fault drill
    # restarts it); REDIS_URL then points at it.
    own_redis_port: int | None = None
    # Hand resumed SSE readers to Nchan (deploy/README.md, "The resume
    # hand-off"); LIVEBLOG_SSE_HANDOFF=0 leaves every resume on the app.
    sse_handoff: bool = os.environ.get("LIVEBLOG_SSE_HANDOFF", "1") == "1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _raise_nofile(target: int = 65536) -> int:
    """Raise this process's open-file limit (inherited by nginx and the
    apps); root may raise the hard limit too, others up to it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, target)
    for limits in ((want, max(hard, want)), (min(want, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _world_traversable(path: Path) -> bool:
    """Can any user walk down to ``path`` (every existing parent o+x)?"""
    for part in [path, *path.parents]:
        if part.exists() and not part.stat().st_mode & 0o001:
            return False
    return True


def render_nginx_conf(opts: Options) -> str:
    """The nginx.conf for these options (placeholders are ``{{NAME}}``)."""
    nofile = _raise_nofile()
    if os.geteuid() != 0:
        user = "# (not root: workers run as the current user)"
    elif _world_traversable(opts.run_dir) and _world_traversable(ROOT / "staticfiles"):
        user = "user nobody nogroup;"
    else:
        # A checkout under a private directory (e.g. /root): nobody could not
        # reach the cache, temp dirs and static files. Loopback only.
        user = "user root root;"
    load = f"load_module {NCHAN_MODULE};" if Path(NCHAN_MODULE).exists() else ""
    brotli = Path(BROTLI_STATIC_MODULE).exists()
    values = {
        "LOAD_NCHAN": load,
        "LOAD_BROTLI_STATIC": f"load_module {BROTLI_STATIC_MODULE};" if brotli else "",
        "BROTLI_STATIC": "brotli_static on;" if brotli else "# (no brotli_static module: gzip only)",
        "USER": user,
        # One worker (deploy/README.md, "One nginx worker"): with more, Nchan
        # 1.3.6 passes messages between workers, and a worker killed or
        # crashed leaves the other's readers on a channel that no longer gets
        # them, or drops a message for them (the fault drill saw both).
        "WORKER_PROCESSES": os.environ.get("NGINX_WORKERS") or "1",
        "RLIMIT_NOFILE": str(nofile),
        "WORKER_CONNECTIONS": str(max(1024, min(nofile - 64, 40000))),
        "RUN_DIR": str(opts.run_dir),
        "ACCESS_LOG": (
            f"access_log {opts.run_dir}/logs/nginx-access.log main_rid buffer=64k flush=1s;"
            if opts.access_log
            else "access_log off;"
        ),
        "UPSTREAM_SERVERS": "\n".join(
            f"        server unix:{opts.run_dir}/app-{i}.sock max_fails=0;" for i in range(opts.app_procs)
        ),
        # Resumed streams go to the last app process (the first one if that
        # is down); least_conn then keeps the desk's writes off it while a
        # mass resume keeps it busy (deploy/README.md, "The resume hand-off").
        "RESUME_SERVERS": "\n".join(
            [f"        server unix:{opts.run_dir}/app-{opts.app_procs - 1}.sock max_fails=0;"]
            + ([f"        server unix:{opts.run_dir}/app-0.sock max_fails=0 backup;"] if opts.app_procs > 1 else [])
        ),
        "NCHAN_SHM": "128m",
        "HOST": opts.host,
        "PORT": str(opts.port),
        "PUB_PORT": str(opts.pub_port),
        "METRICS_PORT": str(opts.metrics_port),
        # Off (LIVEBLOG_SSE_HANDOFF=0, --no-sse-handoff), every resume stays
        # on the app; on, it is handed to Nchan (deploy/README.md).
        "SSE_HANDOFF": "proxy_set_header X-Liveblog-Handoff /_nchan/;" if opts.sse_handoff
        else "# resume hand-off to Nchan off (LIVEBLOG_SSE_HANDOFF=0)",
        "STATIC_ROOT": str(ROOT / "staticfiles"),
        # The app's MEDIA_ROOT (liveblog/settings.py): the same default and variable.
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT") or str(ROOT / "media"),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise ValueError("unrendered placeholder in nginx.conf.template")
    return text


def render_logrotate_conf(run_dir: Path) -> str:
    """logrotate's config for the run directory's logs (daily, 14 kept)."""
    return LOGROTATE_TEMPLATE.read_text().replace("{{RUN_DIR}}", str(run_dir))


class MissingSecrets(RuntimeError):
    pass


def _throwaway_secrets(run_dir: Path) -> dict[str, str]:
    """A secret key and a VAPID pair kept in the run directory (0600)."""
    path = run_dir / "secrets.json"
    if not path.exists():
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        def b64u(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        key = ec.generate_private_key(ec.SECP256R1())
        values = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "LIVEBLOG_VAPID_PRIVATE_KEY": b64u(key.private_numbers().private_value.to_bytes(32, "big")),
            "LIVEBLOG_VAPID_PUBLIC_KEY": b64u(key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
    return json.loads(path.read_text())


def profile_secrets(opts: Options) -> dict[str, str]:
    """The secret key and VAPID pair: from the environment, or (with
    ``generate_secrets``) a throwaway set; else refuse to start."""
    have = {name: os.environ[name] for name in SECRET_NAMES if os.environ.get(name)}
    missing = [name for name in SECRET_NAMES if name not in have]
    if not missing:
        return have
    if not opts.generate_secrets:
        raise MissingSecrets(
            f"{', '.join(missing)} not set. Production keeps them in the environment: losing the VAPID pair "
            "kills every push subscription, a new SECRET_KEY logs everyone out "
            "(`manage.py generate_vapid_keys` prints a pair). For a throwaway trial on loopback: --generate-secrets."
        )
    print(f"profile: WARNING: {', '.join(missing)} not set; using throwaway values from {opts.run_dir}/secrets.json "
          "(not for production)", file=sys.stderr, flush=True)
    return {**_throwaway_secrets(opts.run_dir), **have}


def child_env(opts: Options) -> dict[str, str]:
    """The environment every process of the profile shares."""
    env = dict(os.environ)
    env.update(profile_secrets(opts))
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "liveblog.settings",
            "DATABASE_URL": opts.database_url,
            # psycopg's pool: a request reuses a connection instead of
            # forking a PostgreSQL backend (publish p50 35 -> 25 ms in the
            # bench with 10,000 readers; bench/PROFILING.md).
            "DATABASE_POOL": os.environ.get("DATABASE_POOL", "1"),
            "REDIS_URL": f"redis://127.0.0.1:{opts.own_redis_port}/0" if opts.own_redis_port else opts.redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "LIVEBLOG_CHANNEL_BACKEND": "redis",
            "LIVEBLOG_NCHAN_PUBLISH_URL": f"http://127.0.0.1:{opts.pub_port}/pub",
            "LIVEBLOG_SITE_URL": opts.base_url,
            "LIVEBLOG_WEBHOOK_CONCURRENCY": os.environ.get("LIVEBLOG_WEBHOOK_CONCURRENCY", "200"),
            "ALLOWED_HOSTS": os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost"),
            # nginx appends the reader's address to X-Forwarded-For: log-in
            # throttling counts that one, not nginx's (deploy/README.md).
            "LIVEBLOG_PROXY_COUNT": os.environ.get("LIVEBLOG_PROXY_COUNT", "1"),
            "PYTHONUNBUFFERED": "1",
            "LIVEBLOG_PRODUCTION": "1",
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
            # Each process writes its counters here; a scrape adds them up.
            "PROMETHEUS_MULTIPROC_DIR": str(opts.run_dir / "metrics"),
        }
    )
    env.update(opts.extra_env)
    return env


def ensure_database(database_url: str) -> None:
    """Create the PostgreSQL database named in the URL if it is missing."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


@dataclass
class Program:
    """One process of the profile, as supervisord runs it."""

    name: str
    argv: list[str]
    priority: int
    stopsignal: str = "TERM"


def render_supervisord_conf(opts: Options, programs: list[Program]) -> str:
    """deploy/supervisord.conf.template plus one section per program."""
    text = SUPERVISORD_TEMPLATE.read_text().replace("{{RUN_DIR}}", str(opts.run_dir))
    if "{{" in text:
        raise ValueError("unrendered placeholder in supervisord.conf.template")
    for program in programs:
        # supervisord's config is ConfigParser with %-interpolation.
        command = shlex.join(program.argv).replace("%", "%%")
        text += f"""
[program:{program.name}]
command={command}
directory={ROOT}
priority={program.priority}
autostart=true
autorestart=true
startsecs=1
startretries=10
stopsignal={program.stopsignal}
stopwaitsecs=10
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={opts.run_dir}/logs/{program.name}.log
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=2
"""
    return text


def program_status(run_dir: Path) -> dict[str, tuple[str, int | None]]:
    """``{program: (state, pid)}`` as supervisord reports it now (RUNNING,
    STARTING, BACKOFF, EXITED, FATAL…); empty if it cannot be asked."""
    out = subprocess.run(
        ["supervisorctl", "-c", str(run_dir / "supervisord.conf"), "status"],
        capture_output=True, text=True, timeout=15,
    ).stdout
    status: dict[str, tuple[str, int | None]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isupper():
            pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else None
            status[parts[0]] = (parts[1], pid)
    return status


class Supervisor:
    """Runs the profile's processes under supervisord (Debian's supervisor):
    a process that dies is restarted alone; stopping stops them all."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.proc: subprocess.Popen | None = None
        self.programs: list[Program] = []
        self.stopping = threading.Event()
        self.python = sys.executable
        self.bin = Path(self.python).parent

    # --- start -------------------------------------------------------------

    def prepare(self) -> dict[str, str]:
        run = self.opts.run_dir
        for sub in ("logs", "cache", "baseline", "nginx"):
            (run / sub).mkdir(parents=True, exist_ok=True)
        # Counters of a previous run's processes would add up with this run's.
        shutil.rmtree(run / "metrics", ignore_errors=True)
        (run / "metrics").mkdir()
        # The own Redis's append-only file outlives a kill -9, not the profile
        # (what it held described a previous nginx's Nchan).
        shutil.rmtree(run / "appendonlydir", ignore_errors=True)
        for stale in ("ready.json",):
            with suppress(FileNotFoundError):
                (run / stale).unlink()
        for path in (run, run / "baseline"):
            path.chmod(0o755)
        conf = render_nginx_conf(self.opts)
        if "user nobody" in conf:
            # nginx workers run as nobody: they write their temp files and cache.
            for sub in ("cache", "nginx"):
                shutil.chown(run / sub, "nobody", "nogroup")
        (run / "nginx.conf").write_text(conf)
        (run / "logrotate.conf").write_text(render_logrotate_conf(run))
        env = child_env(self.opts)
        if self.opts.database_url.startswith("postgres"):
            ensure_database(self.opts.database_url)
        manage = [self.python, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
        return env

    def define_programs(self) -> list[Program]:
        opts = self.opts
        programs = []
        if opts.own_redis_port:
            programs.append(Program(
                "redis",
                [
                    # An append-only file, as deploy/cluster's: after a kill -9 it
                    # comes back with the fan-out's record of what went to Nchan
                    # (without it the fan-out starts again from the database's
                    # confirmed seq, and a seq can reach readers twice).
                    "redis-server", "--bind", "127.0.0.1", "--port", str(opts.own_redis_port), "--save", "",
                    "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(opts.run_dir),
                ],
                priority=50,
            ))
        for i in range(opts.app_procs):
            sock = opts.run_dir / f"app-{i}.sock"
            programs.append(Program(
                f"app-{i}",
                [
                    str(self.bin / "uvicorn"), "liveblog.asgi:application", "--uds", str(sock),
                    "--no-access-log", "--lifespan", "off", "--log-level", "warning",
                    "--timeout-graceful-shutdown", "3", "--backlog", "4096",
                    # Longer than nginx's upstream keepalive_timeout (60 s):
                    # nginx, not the app, closes an idle connection.
                    "--timeout-keep-alive", "75",
                ],
                priority=100,
            ))
        celery = str(self.bin / "celery")
        programs.append(Program(
            "celery-worker",
            [
                celery, "-A", "liveblog", "worker", "-l", "warning", "-n", f"liveblog-{opts.port}@%h",
                "--concurrency", str(opts.celery_concurrency), "--without-gossip", "--without-mingle",
            ],
            priority=200,
        ))
        if opts.beat:
            programs.append(Program(
                "celery-beat",
                [
                    celery, "-A", "liveblog", "beat", "-l", "warning",
                    "-s", str(opts.run_dir / "celerybeat-schedule"), "--pidfile=",
                ],
                priority=300,
            ))
        # Started last, stopped first; QUIT is nginx's graceful stop.
        programs.append(Program(
            "nginx", ["nginx", "-p", str(opts.run_dir), "-c", str(opts.run_dir / "nginx.conf")],
            priority=900, stopsignal="QUIT",
        ))
        return programs

    def start(self) -> None:
        env = self.prepare()
        opts = self.opts
        subprocess.run(
            ["nginx", "-t", "-q", "-p", str(opts.run_dir), "-c", str(opts.run_dir / "nginx.conf")], check=True,
            stdout=subprocess.DEVNULL,
        )
        for i in range(opts.app_procs):
            with suppress(FileNotFoundError):
                (opts.run_dir / f"app-{i}.sock").unlink()
        self.programs = self.define_programs()
        conf = opts.run_dir / "supervisord.conf"
        conf.write_text(render_supervisord_conf(opts, self.programs))
        log = open(opts.run_dir / "logs" / "supervisord.out", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            ["supervisord", "-c", str(conf)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready()
        threading.Thread(target=self._heartbeat, daemon=True).start()
        pids = self._write_pids()
        (opts.run_dir / "ready.json").write_text(
            json.dumps(
                {
                    "base_url": opts.base_url,
                    "publish_url": f"http://127.0.0.1:{opts.pub_port}/pub",
                    "metrics_url": f"http://127.0.0.1:{opts.metrics_port}/metrics",
                    "pids": pids,
                    "supervisor": os.getpid(),
                    "supervisord": self.proc.pid,
                }
            )
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        sockets = [self.opts.run_dir / f"app-{i}.sock" for i in range(self.opts.app_procs)]
        while time.monotonic() < deadline:
            self.check_alive()
            # Ready = nginx, Nchan's publisher and the app's own /readyz
            # (database, cache, broker, migrations, outbox) all answer.
            if all(s.exists() for s in sockets) and _answers(self.opts.base_url + "/_nginx_status", ok_only=True) and _answers(
                f"http://127.0.0.1:{self.opts.pub_port}/"
            ) and _answers(self.opts.base_url + "/readyz", ok_only=True):
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"the profile did not answer within {timeout:.0f}s; /readyz said {_body(self.opts.base_url + '/readyz')}; "
            f"see {self.opts.run_dir}/logs"
        )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"supervisord exited with {self.proc.returncode}; see {self.opts.run_dir}/logs")
        for name, (state, _pid) in program_status(self.opts.run_dir).items():
            if state == "FATAL":
                raise RuntimeError(f"{name} could not start; see {self.opts.run_dir}/logs/{name}.log")

    # --- run and stop --------------------------------------------------------

    def _heartbeat(self) -> None:
        interval = float(
            self.opts.extra_env.get("LIVEBLOG_SSE_HEARTBEAT_SECONDS")
            or os.environ.get("LIVEBLOG_SSE_HEARTBEAT_SECONDS", "15")
        )
        url = f"http://127.0.0.1:{self.opts.pub_port}/pub/{HEARTBEAT_CHANNEL}"
        while not self.stopping.wait(interval):
            with suppress(OSError):
                urllib.request.urlopen(urllib.request.Request(url, data=b": heartbeat\n"), timeout=5).read()

    def wait(self) -> int:
        """Block until a signal (0) or until supervisord itself dies (1);
        a process that dies meanwhile is supervisord's to restart."""
        while not self.stopping.is_set():
            if self.proc.poll() is not None:
                print(f"profile: supervisord exited with {self.proc.returncode}; stopping", file=sys.stderr)
                return 1
            self.stopping.wait(2)
            with suppress(Exception):
                self._write_pids()
        return 0

    def stop(self, timeout: float = 30) -> None:
        """supervisord stops every program (highest priority first: nginx,
        then beat, the worker and the apps) and exits."""
        self.stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            with suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        with suppress(FileNotFoundError):
            (self.opts.run_dir / "ready.json").unlink()
        (self.opts.run_dir / "pids.json").write_text("{}")

    def _write_pids(self) -> dict[str, int]:
        alive = {name: pid for name, (state, pid) in program_status(self.opts.run_dir).items() if pid}
        (self.opts.run_dir / "pids.json").write_text(json.dumps(alive))
        return alive


def _body(url: str) -> str:
    """What ``url`` answers, for an error message (never raises)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http URLs this module builds
            return response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read(2000).decode('utf-8', 'replace')}"
    except OSError as exc:
        return f"nothing ({exc})"


def _answers(url: str, ok_only: bool = False) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http URLs this module builds
            return response.status < 400 or not ok_only
    except urllib.error.HTTPError as exc:
        return not ok_only and exc.code < 500
    except OSError:
        return False


class BackgroundProfile:
    """Start the profile as a child process for a benchmark or a test; stop
    it (and everything it started) on exit. Loopback only, so it makes
    throwaway secrets when the environment has none."""

    def __init__(self, opts: Options, timeout: float = 90):
        opts.generate_secrets = True
        self.opts = opts
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    def __enter__(self) -> BackgroundProfile:
        o = self.opts
        argv = [
            sys.executable, "-m", "deploy.profile", "--run-dir", str(o.run_dir), "--host", o.host,
            "--port", str(o.port), "--pub-port", str(o.pub_port), "--metrics-port", str(o.metrics_port),
            "--app-procs", str(o.app_procs),
            "--celery-concurrency", str(o.celery_concurrency), "--database-url", o.database_url,
            "--redis-url", o.redis_url,
        ]
        if not o.access_log:
            argv.append("--no-access-log")
        if not o.beat:
            argv.append("--no-beat")
        if o.generate_secrets:
            argv.append("--generate-secrets")
        if o.own_redis_port:
            argv += ["--own-redis-port", str(o.own_redis_port)]
        argv.append("--sse-handoff" if o.sse_handoff else "--no-sse-handoff")
        for key, value in o.extra_env.items():
            argv += ["--env", f"{key}={value}"]
        o.run_dir.mkdir(parents=True, exist_ok=True)
        ready = o.run_dir / "ready.json"
        with suppress(FileNotFoundError):
            ready.unlink()
        self.log = open(o.run_dir / "supervisor.log", "ab")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                tail = (o.run_dir / "supervisor.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the production profile did not start:\n{tail}")
            time.sleep(0.2)
        self.info = json.loads(ready.read_text())
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()

    def pids(self) -> dict[str, int]:
        """The processes' pids when the profile became ready."""
        return dict(self.info.get("pids", {}))

    def status(self) -> dict[str, tuple[str, int | None]]:
        """Each process's supervisord state and pid now."""
        return program_status(self.opts.run_dir)


def parse_args(argv: list[str] | None = None) -> Options:
    env = os.environ
    p = argparse.ArgumentParser(description="Run the production profile on loopback.")
    p.add_argument("--run-dir", type=Path, default=Path(env.get("RUN_DIR", ROOT / ".run" / "prod")))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(env.get("PROD_PORT", "8080")))
    p.add_argument("--pub-port", type=int, default=int(env.get("PROD_PUB_PORT", "8081")))
    p.add_argument("--metrics-port", type=int, default=int(env.get("PROD_METRICS_PORT", "8082")),
                   help="loopback-only nginx port serving /metrics and nginx's stub_status")
    p.add_argument("--app-procs", type=int, default=int(env.get("APP_PROCS", str(Options.app_procs))))
    p.add_argument("--celery-concurrency", type=int, default=int(env.get("CELERY_CONCURRENCY", "4")))
    p.add_argument("--database-url", default=env.get("DATABASE_URL") or local_postgres("liveblog"))
    p.add_argument("--redis-url", default=env.get("REDIS_URL") or Options.redis_url)
    p.add_argument("--no-access-log", action="store_true")
    p.add_argument("--no-beat", action="store_true")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for every process")
    p.add_argument("--generate-secrets", action="store_true",
                   help="throwaway SECRET_KEY and VAPID pair in the run dir when the environment has none")
    p.add_argument("--own-redis-port", type=int, default=None, help="run a redis-server of its own on this port")
    p.add_argument("--sse-handoff", action=argparse.BooleanOptionalAction, default=Options.sse_handoff,
                   help="hand resumed SSE readers to Nchan (default; LIVEBLOG_SSE_HANDOFF=0 turns it off)")
    a = p.parse_args(argv)
    if a.host not in {"127.0.0.1", "localhost", "::1"}:
        p.error("this script runs the profile on loopback only; see deploy/README.md for more machines")
    return Options(
        run_dir=a.run_dir.resolve(), host=a.host, port=a.port, pub_port=a.pub_port, metrics_port=a.metrics_port,
        app_procs=a.app_procs, generate_secrets=a.generate_secrets,
        celery_concurrency=a.celery_concurrency, database_url=a.database_url, redis_url=a.redis_url,
        access_log=not a.no_access_log, beat=not a.no_beat,
        extra_env=dict(item.split("=", 1) for item in a.env), own_redis_port=a.own_redis_port,
        sse_handoff=a.sse_handoff,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    sup = Supervisor(opts)

    def on_signal(signum, frame):
        sup.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sup.start()
        print(
            f"Production profile on {opts.base_url}/ (nginx micro-cache + Nchan, {opts.app_procs} app "
            f"processes, Celery worker and beat). Run dir {opts.run_dir}. Ctrl-C stops it.",
            flush=True,
        )
        return sup.wait()
    except Exception as exc:  # noqa: BLE001 - reported, then everything is stopped
        print(f"profile: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
