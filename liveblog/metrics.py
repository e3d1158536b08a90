"""Prometheus metrics counted as things happen, in every process (app,
Celery worker). With ``PROMETHEUS_MULTIPROC_DIR`` set (the production
profile) each process writes its own file there and one scrape adds them up;
gauges read at scrape time (outbox lag, backlog, readers) are in
``posts/web/metrics.py``. See docs/operations.md ("Metrics").
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from prometheus_client import Counter, Histogram, disable_created_metrics

from liveblog.middleware import AroundMiddleware

# The *_created series double the output and no dashboard reads them.
disable_created_metrics()

# Seconds; a publish is ~25 ms in the bench (bench/RESULTS.md), a fan-out to
# 1,000 partners a few seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "liveblog_http_requests_total", "HTTP requests by route pattern, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "liveblog_http_request_duration_seconds", "Time in the app per request, by route pattern.",
    ["route"], buckets=_LATENCY_BUCKETS,
)
READ_CACHE = Counter(
    "liveblog_read_cache_total", "Public reads by the app's read cache result (X-Read-Cache: hit, miss, off).",
    ["result"],
)
SERVICE_SECONDS = Histogram(
    "liveblog_service_duration_seconds", "Duration of a write service (publish latency: service=entry_create "
    "or entry_publish), including its transaction.", ["service"], buckets=_LATENCY_BUCKETS,
)
FANOUT_SECONDS = Histogram(
    "liveblog_fanout_duration_seconds", "One event's fan-out task: channel, caches, deliveries created, "
    "follow-up tasks enqueued.", buckets=_LATENCY_BUCKETS,
)
SSE_RESUMES = Counter(
    "liveblog_sse_resumes_total", "Streams resumed behind nginx's hand-off, by how they were served: handed "
    "(to Nchan, before Django), handed_view (to Nchan, by the view), replay (the gap from the event log, then "
    "back), app (streamed by the app: Nchan could not take it).",
    ["outcome"],
)
WEBHOOK_ATTEMPTS = Counter(
    "liveblog_webhook_attempts_total", "Webhook POSTs by partner id and outcome (ok, failed).",
    ["partner", "outcome"],
)


def timed_service(func: Callable) -> Callable:
    """Observe a service's duration (errors included: a refused publish is
    still time a desk waited)."""
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            SERVICE_SECONDS.labels(name).observe(time.perf_counter() - started)

    return wrapper


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"  # a 404 before routing: never the raw path (unbounded labels)
    return match.route or match.view_name or "unknown"


def observe_request(request, response, seconds: float) -> None:
    route = _route(request)
    REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(route).observe(seconds)
    cache_result = response.get("X-Read-Cache")
    if cache_result:
        READ_CACHE.labels(cache_result).inc()


class MetricsMiddleware(AroundMiddleware):
    """Counts every request by route pattern and status."""

    def before(self, request):
        return time.perf_counter()

    def after(self, request, response, state):
        observe_request(request, response, time.perf_counter() - state)
        return response
