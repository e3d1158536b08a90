"""Reads for the operator: outbox lag, webhook backlog, live blogs. Used by
``/readyz`` and the metrics scrape, so each is one indexed query.
See docs/operations.md."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from .models import Blog, Event, WebhookDelivery


def outbox_lag_seconds() -> float:
    """Age of the oldest event not yet confirmed by its fan-out (0 if none);
    index ``event_unsent`` (fanned_out_at, created_at)."""
    oldest = (
        Event.objects.filter(fanned_out_at__isnull=True).order_by("created_at").values_list("created_at", flat=True)
    ).first()
    if oldest is None:
        return 0.0
    return max(0.0, (timezone.now() - oldest).total_seconds())


def unconfirmed_event_count(*, limit: int = 10_000) -> int:
    """Unconfirmed events, counted up to ``limit`` (a bounded scan)."""
    return len(Event.objects.filter(fanned_out_at__isnull=True).values_list("pk", flat=True)[:limit])


def webhook_backlog_by_partner() -> dict[int, int]:
    """Deliveries still owed (pending, or failed with a retry due), per
    partner id; partners owed nothing are left out. Index ``delivery_due``."""
    owed = Q(status=WebhookDelivery.Status.PENDING) | Q(
        status=WebhookDelivery.Status.FAILED, next_attempt_at__isnull=False
    )
    rows = (
        WebhookDelivery.objects.filter(owed)
        .values("partner_id")
        .annotate(n=Count("pk"))
        .values_list("partner_id", "n")
    )
    return dict(rows)


def live_blog_slugs(*, limit: int = 200) -> list[str]:
    return list(Blog.objects.filter(status=Blog.Status.LIVE).order_by("-last_event_at").values_list("slug", flat=True)[:limit])
