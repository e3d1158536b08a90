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
def _celery_in_process():
    """Fan-out runs in-process at commit in every test, in both CI passes;
    the tests that need a real worker against Redis start one and turn
    this off for their duration."""
    from liveblog.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


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
