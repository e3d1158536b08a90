"""The embedded scheduler: the periodic work Celery beat does in production
(scheduled publishing, the outbox sweep), run in-process by the app server.

Started and stopped by the ASGI lifespan (``liveblog/asgi.py``), so it runs
only in a serving process: never in ``manage.py`` commands, the Celery worker
or tests (which start it themselves when they want it). It ticks every
``LIVEBLOG_EMBEDDED_TICK_SECONDS`` (1 s, so an entry goes live within ~1 s of
its time). See docs/scheduler.md for the choice of lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction

log = logging.getLogger(__name__)

# Any constant fits; it only has to be the same in every process of one
# database ("lbsc" in ASCII).
ADVISORY_LOCK_KEY = 0x6C627363


def enabled() -> bool:
    """On by default where nothing else runs the periodic work: the embedded
    profile (Celery eager, so there is no beat). ``LIVEBLOG_EMBEDDED_SCHEDULER``
    forces it on or off."""
    value = settings.LIVEBLOG_EMBEDDED_SCHEDULER
    if value in ("", "auto"):
        return bool(settings.CELERY_TASK_ALWAYS_EAGER)
    return value.lower() in {"1", "true", "yes", "on"}


def lock_kind() -> str:
    """Which lock makes this process the one runner of a tick."""
    if settings.REDIS_URL:
        return "redis"
    if connection.vendor == "postgresql":
        return "advisory"
    return "file"


@contextlib.contextmanager
def tick_lock() -> Iterator[bool]:
    """Yield True when this process won this tick.

    - Redis configured: ``SET lock NX PX`` through the cache, expiring after
      one tick, so a crashed holder blocks nobody for long.
    - PostgreSQL: ``pg_try_advisory_xact_lock`` inside a transaction that
      spans the tick. Transaction-scoped, so it is released at commit and
      works behind PgBouncer in transaction pooling (a session lock would stay
      on whichever server connection happened to run it).
    - SQLite: ``flock`` on a file beside the database (one machine by nature).
    """
    kind = lock_kind()
    if kind == "redis":
        from django.core.cache import cache

        key = f"liveblog:scheduler:{settings.DATABASES['default']['NAME']}"
        token = f"{os.getpid()}:{threading.get_ident()}"
        won = cache.add(key, token, timeout=settings.LIVEBLOG_EMBEDDED_TICK_SECONDS)
        yield bool(won)
        return
    if kind == "advisory":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
                won = bool(cursor.fetchone()[0])
            yield won
        return
    path = Path(f"{settings.DATABASES['default']['NAME']}.scheduler-lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tick() -> bool:
    """Run the periodic work once if this process holds the lock; True if it ran."""
    from posts.delivery.tasks import reader_counts_task, sweep_task
    from posts.domain.tasks import flush_polls_task, publish_scheduled_task

    close_old_connections()
    try:
        with tick_lock() as won:
            if not won:
                return False
            publish_scheduled_task()
            sweep_task()
            flush_polls_task()
            reader_counts_task()
            return True
    finally:
        connection.close()


class Runner:
    """A daemon thread calling :func:`tick` until :meth:`stop`."""

    def __init__(self, every: float | None = None) -> None:
        self.every = every if every is not None else settings.LIVEBLOG_EMBEDDED_TICK_SECONDS
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks_run = 0

    def start(self) -> Runner:
        self._thread = threading.Thread(target=self._loop, name="liveblog-scheduler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if tick():
                    self.ticks_run += 1
            except Exception:  # a bad tick must not end the loop; the next one retries
                log.exception("embedded scheduler tick failed")
            self._stop.wait(self.every)

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def lifespan(app):
    """Wrap an ASGI app: the runner starts on ``lifespan.startup`` (when
    :func:`enabled`) and is stopped, the current tick finished, on shutdown."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        runner: Runner | None = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if enabled():
                    runner = Runner().start()
                    log.info("embedded scheduler started (every %ss)", runner.every)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if runner is not None:
                    import asyncio

                    await asyncio.get_running_loop().run_in_executor(None, runner.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    return wrapped
