"""``/metrics`` in Prometheus' text format: the counters every process keeps
(``liveblog/metrics.py``, added up across processes when
``PROMETHEUS_MULTIPROC_DIR`` is set) and gauges read at scrape time (outbox
lag, webhook backlog per partner, SSE readers per blog). The production
profile serves it on a loopback-only port. See docs/operations.md ("Metrics").
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from posts.delivery import channel
from posts.domain import monitoring

log = logging.getLogger(__name__)


class ScrapeTimeCollector:
    """Gauges that are a state of the database or the channel, not of one
    process: read once per scrape (a few indexed queries)."""

    def collect(self):
        lag = GaugeMetricFamily("liveblog_outbox_lag_seconds", "Age of the oldest event not confirmed by its fan-out.")
        unconfirmed = GaugeMetricFamily("liveblog_outbox_unconfirmed_events", "Events not yet confirmed (up to 10,000).")
        backlog = GaugeMetricFamily(
            "liveblog_webhook_backlog", "Deliveries owed (pending or retry due), by partner id.", labels=["partner"]
        )
        readers = GaugeMetricFamily(
            "liveblog_sse_readers", "Open SSE readers of each live blog (app streams and Nchan).", labels=["blog"]
        )
        try:
            lag.add_metric([], monitoring.outbox_lag_seconds())
            unconfirmed.add_metric([], monitoring.unconfirmed_event_count())
            for partner_id, owed in sorted(monitoring.webhook_backlog_by_partner().items()):
                backlog.add_metric([str(partner_id)], owed)
            for slug in monitoring.live_blog_slugs():
                readers.add_metric([slug], channel.reader_count(slug))
        except Exception:  # noqa: BLE001 - a scrape without these beats no scrape; /readyz says why
            log.warning("scrape-time metrics failed", exc_info=True)
        yield from (lag, unconfirmed, backlog, readers)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessRegistry())
    registry.register(ScrapeTimeCollector())
    return registry


class _ProcessRegistry:
    """This process's own metrics (one process: ``make run``, tests)."""

    def collect(self):
        yield from REGISTRY.collect()


def metrics(request) -> HttpResponse:
    if not settings.LIVEBLOG_METRICS_ENABLED:
        raise Http404("metrics are off (LIVEBLOG_METRICS_ENABLED)")
    response = HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
