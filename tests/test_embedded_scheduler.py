"""The embedded scheduler: started and stopped by the ASGI lifespan, one
runner per database per tick, and a scheduled entry reaching an open
reader page on time."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from liveblog import scheduler
from posts.domain.models import Entry

from .factories import make_entry
from .fanout_support import wait_until


def _lock_kinds() -> list[str]:
    """The locks this profile can exercise (the advisory lock only on PostgreSQL)."""
    kinds = ["file" if connection.vendor == "sqlite" else "advisory"]
    from django.conf import settings

    if settings.REDIS_URL:
        kinds.append("redis")
    return kinds


def test_the_lifespan_starts_the_runner_and_stops_it_cleanly(settings, monkeypatch):
    settings.LIVEBLOG_EMBEDDED_SCHEDULER = "1"
    ticks = []
    monkeypatch.setattr(scheduler, "tick", lambda: ticks.append(time.monotonic()) or True)

    async def inner(scope, receive, send):  # pragma: no cover - lifespan never reaches the app
        raise AssertionError("the wrapped app must not see lifespan messages")

    app = scheduler.lifespan(inner)
    messages = asyncio.Queue()
    sent = []

    async def drive():
        await messages.put({"type": "lifespan.startup"})
        task = asyncio.create_task(app({"type": "lifespan"}, messages.get, _append(sent)))
        while not sent:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        await messages.put({"type": "lifespan.shutdown"})
        await task

    # In a thread of its own: the session's browser may own this thread's loop.
    runner = threading.Thread(target=asyncio.run, args=(drive(),))
    runner.start()
    runner.join(10)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert ticks, "the runner never ticked"
    count = len(ticks)
    time.sleep(0.3)
    assert len(ticks) == count, "the runner kept ticking after shutdown"
    assert not [t for t in threading.enumerate() if t.name == "liveblog-scheduler"]


def _append(sent):
    async def send(message):
        sent.append(message)

    return send


def test_it_stays_off_where_celery_beat_runs_the_periodic_work(settings):
    settings.LIVEBLOG_EMBEDDED_SCHEDULER = "auto"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert not scheduler.enabled()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert scheduler.enabled()
    settings.LIVEBLOG_EMBEDDED_SCHEDULER = "0"
    assert not scheduler.enabled()


@pytest.mark.parametrize("kind", _lock_kinds())
def test_only_one_process_runs_a_tick(transactional_db, settings, monkeypatch, kind):
    if kind != "redis":
        settings.REDIS_URL = ""
    settings.LIVEBLOG_EMBEDDED_TICK_SECONDS = 5
    assert scheduler.lock_kind() == kind
    if kind == "redis":
        from django.core.cache import cache

        cache.delete(f"liveblog:scheduler:{settings.DATABASES['default']['NAME']}")
    results = []
    with scheduler.tick_lock() as won:
        assert won
        # Another runner (its own thread, its own connection) is refused meanwhile.
        other = threading.Thread(target=lambda: results.append(scheduler.tick()))
        other.start()
        other.join(10)
    assert results == [False]


def test_a_scheduled_entry_appears_on_an_open_reader_page_on_time(live_url, page, blog, reporter):
    page.goto(f"{live_url}/live/{blog.slug}/")
    page.wait_for_load_state("networkidle")
    due = timezone.now() + timedelta(seconds=3)
    entry = make_entry(blog=blog, user=reporter, body="Counting starts now.", status="scheduled", publish_at=due)
    runner = scheduler.Runner().start()
    try:
        page.locator(f"#entry-{entry.pk}").wait_for(timeout=15_000)
        seen = timezone.now()
    finally:
        runner.stop()
    entry.refresh_from_db()
    assert entry.status == Entry.Status.PUBLISHED
    late = (entry.published_at - due).total_seconds()
    assert 0 <= late < 2, f"published {late:.2f}s after its time"
    on_page = (seen - due).total_seconds()
    print(f"\nscheduled entry: published {late:.2f}s after its time, on the reader page after {on_page:.2f}s")
    assert on_page < 5
    assert wait_until(lambda: runner._thread is None, timeout=1)
