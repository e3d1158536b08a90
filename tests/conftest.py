"""Shared fixtures: newsroom people, a live blog, a real ASGI server in a
thread, and headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from posts.domain.models import Role

from .factories import AuthorFactory, make_blog

# Hypothesis: `ci` (about 50 examples a test, set by .ci/run) or `dev`.
hypothesis_settings.register_profile(
    "ci", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
hypothesis_settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session", autouse=True)
def _collected_static():
    """Pages link fingerprinted static files (manifest storage), so the suite
    collects them once, as `make run` and the production profile do."""
    from django.conf import settings
    from django.core.management import call_command

    if static_is_stale(settings):
        call_command("collectstatic", "--noinput", verbosity=0)


def static_is_stale(settings) -> bool:
    """Collecting (hashing, gzip and brotli of ~400 files, Django's admin
    included) takes ~10 s: done again only when a source changed."""
    from pathlib import Path

    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not manifest.exists():
        return True
    sources = [Path(settings.BASE_DIR) / "requirements.txt"]
    for folder in settings.STATICFILES_DIRS:
        sources.extend(p for p in Path(folder).rglob("*") if p.is_file())
    return max(p.stat().st_mtime for p in sources) > manifest.stat().st_mtime


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_read_cache():
    """Cached pages are keyed by blog slug and seq, which tests reuse."""
    from posts.web.caching import clear_read_cache

    clear_read_cache()
    yield


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Photos go to this test's own folders (public and withheld)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LIVEBLOG_MEDIA_WITHHELD_ROOT = tmp_path / "media-withheld"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "withheld": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                     "OPTIONS": {"location": tmp_path / "media-withheld", "base_url": "/withheld-is-never-served/"}},
    }


@pytest.fixture(autouse=True)
def _celery_in_process():
    """Fan-out runs in-process at commit in every test, in both CI passes;
    the tests that need a real worker against Redis start one and turn
    this off for their duration."""
    from liveblog.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _no_real_embed_providers(settings):
    """Entries with a YouTube, X or Bluesky link are captured at save; in
    tests the built-in providers' endpoints are a reserved address the
    guarded client refuses at once (tests/test_embeds.py runs a local one)."""
    settings.LIVEBLOG_EMBED_PROVIDERS = {
        name: {**spec, "endpoint": f"http://192.0.2.1/{name}/oembed"}
        for name, spec in settings.LIVEBLOG_EMBED_PROVIDERS.items()
    }


@pytest.fixture
def editor(db):
    return AuthorFactory(role=Role.EDITOR, user__username="ed").user


@pytest.fixture
def reporter(db):
    return AuthorFactory(role=Role.REPORTER, user__username="rep").user


@pytest.fixture
def contributor(db):
    return AuthorFactory(role=Role.CONTRIBUTOR, user__username="con").user


@pytest.fixture
def blog(editor):
    return make_blog(editor=editor)


# --- A real server --------------------------------------------------------


@pytest.fixture(scope="session")
def _asgi_server(django_db_setup, django_db_blocker, _collected_static):
    """uvicorn serving the project's ASGI app from a thread of this process,
    so it shares the test database and the in-process live channel."""
    import uvicorn

    from liveblog.asgi import application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning",
        lifespan="off", timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test ASGI server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def live_url(transactional_db, _asgi_server, settings):
    """Base URL of a real ASGI server; data the test commits is visible to it."""
    settings.LIVEBLOG_SITE_URL = _asgi_server
    return _asgi_server


# --- A real browser ---------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django's ORM
    # would otherwise refuse to run in the test body beside it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


# --- The production profile (PostgreSQL pass only) ---------------------------

def postgres_url() -> str | None:
    """DATABASE_URL when it names PostgreSQL: the pass that also runs the
    production profile (nginx, uvicorn processes, Celery, Redis)."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


# Which servers the contract tests (tests/test_contract.py) run against: the
# embedded one always, the production profile in the PostgreSQL pass. The
# end-to-end module of the profile is not collected in the SQLite pass; the
# summary says so, so the choice never reads as a pass.
CONTRACT_SERVERS = ["embedded", "production"] if postgres_url() else ["embedded"]
collect_ignore = [] if postgres_url() else ["test_deploy_e2e.py"]
servers_run: set[str] = set()


def pytest_terminal_summary(terminalreporter):
    ran = ", ".join(sorted(servers_run)) or "none"
    terminalreporter.write_line(f"contract tests ran against: {ran} (servers chosen: {', '.join(CONTRACT_SERVERS)})")
    if not postgres_url():
        terminalreporter.write_line(
            "production profile: not started (DATABASE_URL is not PostgreSQL); "
            "its contract and end-to-end tests run in the PostgreSQL pass"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_database(database_url: str) -> None:
    """Drop the profile's database so every run migrates from nothing (a
    database left by another checkout may hold other migrations)."""
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(parts.path.lstrip("/"))))


@pytest.fixture(scope="session")
def production_profile():
    """``make serve-prod`` on free loopback ports, once per session: its own
    database (``<DATABASE_URL's name>_e2e``, or ``DEPLOY_E2E_DATABASE_URL``),
    its own redis-server (a test may kill it; no other suite's worker shares
    its broker), a 1 s heartbeat, partners on loopback allowed. Carries ``base_url``, ``port``, ``token`` (an editor's)
    and ``publish_url``; everything it started is stopped at the end."""
    import shutil
    import subprocess
    import sys
    from urllib.parse import urlsplit

    from deploy.profile import ROOT, BackgroundProfile, Options

    pg = postgres_url()
    assert pg, "the production profile runs in the PostgreSQL pass"
    parts = urlsplit(pg)
    database_url = os.environ.get("DEPLOY_E2E_DATABASE_URL") or parts._replace(
        path=f"/{parts.path.lstrip('/') or 'liveblog'}_e2e"
    ).geturl()
    port, pub_port, redis_port, metrics_port = _free_port(), _free_port(), _free_port(), _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    _fresh_database(database_url)
    # Under the work tree, not /tmp/pytest-of-*: nginx's workers (nobody,
    # when run as root) must reach their cache and temp directories. The
    # last run's directory is kept (logs for a failure) until the next.
    for old in (ROOT / ".run").glob("e2e-*"):
        shutil.rmtree(old, ignore_errors=True)
    opts = Options(
        run_dir=ROOT / ".run" / f"e2e-{port}",
        port=port,
        pub_port=pub_port,
        metrics_port=metrics_port,
        app_procs=2,
        celery_concurrency=2,
        database_url=database_url,
        redis_url=redis_url,
        own_redis_port=redis_port,
        sse_handoff=True,
        extra_env={
            "LIVEBLOG_SSE_HEARTBEAT_SECONDS": "1",
            "LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE": "1",
            "CACHE_KEY_PREFIX": "e2e",
        },
    )
    # Migrations and five processes starting on a shared, loaded machine.
    with BackgroundProfile(opts, timeout=240) as profile:
        env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, CACHE_KEY_PREFIX="e2e")
        env.pop("DJANGO_SETTINGS_MODULE", None)
        profile.token = subprocess.run(
            [sys.executable, "manage.py", "create_api_token", "e2e-editor", "--role", "editor"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]
        profile.port = port
        profile.metrics_port = metrics_port
        profile.run_dir = opts.run_dir
        profile.base_url = opts.base_url
        profile.publish_url = profile.info["publish_url"]
        profile.env = env
        yield profile
    for name, pid in profile.pids().items():
        assert not _alive(pid), f"{name} ({pid}) outlived the profile"


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- Shards, for CI's time limits ----------------------------------------------


def pytest_collection_modifyitems(config, items):
    """``LIVEBLOG_TEST_SHARD=i/n`` keeps the test modules whose place in the
    sorted list of modules is i modulo n (1-based): .ci/run runs a pass as
    shards, each under its step's limit; together they are the whole pass."""
    shard = os.environ.get("LIVEBLOG_TEST_SHARD", "")
    if not shard:
        return
    index, count = (int(part) for part in shard.split("/"))
    modules = sorted({item.nodeid.split("::", 1)[0] for item in items})
    mine = {module for place, module in enumerate(modules) if place % count == index - 1}
    kept = [item for item in items if item.nodeid.split("::", 1)[0] in mine]
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid.split("::", 1)[0] not in mine])
    items[:] = kept
