"""``/healthz`` (the process answers; no I/O) and ``/readyz`` (database,
cache, broker, migrations, outbox lag): JSON, never cached, 503 naming the
failing checks. Load balancers and deploy/profile.py probe ``/readyz``.
See docs/operations.md ("Health").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse

from posts.domain import monitoring

NO_STORE = "no-store"


def _reply(body: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = NO_STORE
    return response


def healthz(request) -> JsonResponse:
    return _reply({"status": "ok"})


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _cache() -> str:
    cache.set("readyz:ping", "1", timeout=10)
    if cache.get("readyz:ping") != "1":
        raise RuntimeError("the cache did not keep a value")
    return "ok"


def _broker() -> str:
    from celery import current_app

    if current_app.conf.task_always_eager or current_app.conf.broker_url.startswith("memory://"):
        return "in-process (no broker)"
    with current_app.connection_for_write() as conn:
        # One attempt; the transport's socket_connect_timeout (1 s) bounds it.
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        conn.default_channel  # noqa: B018 - opening the channel talks to the broker
    return "ok"


_migrated = False


def _migrations() -> str:
    # Applied migrations only grow while this code runs, so once they are
    # all applied the answer is kept (reading the migration files costs ~50 ms).
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise RuntimeError(f"{len(plan)} migration(s) not applied, first {plan[0][0]}")
        _migrated = True
    return "ok"


def _outbox() -> str:
    lag = monitoring.outbox_lag_seconds()
    bound = settings.LIVEBLOG_READY_MAX_OUTBOX_LAG
    if bound and lag > bound:
        raise RuntimeError(f"oldest unconfirmed event is {lag:.0f} s old (bound {bound:.0f} s)")
    return f"lag {lag:.1f} s"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "cache": _cache,
    "broker": _broker,
    "migrations": _migrations,
    "outbox": _outbox,
}


def readyz(request) -> JsonResponse:
    checks: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            checks[name] = {"ok": True, "detail": check()}
        except Exception as exc:  # noqa: BLE001 - any failure makes the check fail, named
            checks[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
        checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    failing = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "fail" if failing else "ok", "failing": failing, "checks": checks}
    return _reply(body, status=503 if failing else 200)
