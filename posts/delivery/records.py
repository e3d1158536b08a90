"""Delivery's own bookkeeping: confirming events, claiming and recording
webhook deliveries, push claims. Not reader-visible changes, so not services."""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from posts.domain.models import Event, PushSubscription, WebhookAttempt, WebhookDelivery, WebhookPartner


def partners_for(event: Event) -> list[WebhookPartner]:
    """Active partners whose blog and event-type filters match.

    Paused partners are included: their rows wait (the sweep skips paused
    partners) and are delivered when an editor resumes them.
    """
    partners = (
        WebhookPartner.objects.filter(active=True)
        .filter(Q(blogs__isnull=True) | Q(blogs=event.blog_id))
        .distinct()
        .order_by("pk")
    )
    return [p for p in partners if not p.event_types or event.type in p.event_types]


def live_partners_for(*, blog_id: int, message_type: str) -> list[WebhookPartner]:
    """Active partners of the blog who listed ``message_type`` (an opt-in
    type such as ``poll.updated``; an empty list of types does not include it)."""
    partners = (
        WebhookPartner.objects.filter(active=True)
        .filter(Q(blogs__isnull=True) | Q(blogs=blog_id))
        .distinct()
        .order_by("pk")
    )
    return [p for p in partners if message_type in (p.event_types or [])]


def webhook_live_deliveries_create(*, blog_id: int, body: dict, key: str) -> list[int]:
    """One delivery per opted-in partner of a message outside the event log
    (``body`` is the whole webhook body); ``key`` names the message's state,
    so the same tallies are never owed twice. Returns the ids due now."""
    partners = live_partners_for(blog_id=blog_id, message_type=body["type"])
    if not partners:
        return []
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(partner=p, event=None, payload=body, msg_id=f"{key}_{p.pk}", next_attempt_at=now)
            for p in partners
        ],
        ignore_conflicts=True,
    )
    return list(
        WebhookDelivery.objects.filter(
            msg_id__in=[f"{key}_{p.pk}" for p in partners if p.paused_at is None],
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        ).values_list("pk", flat=True)
    )


def event_mark_fanned_out(*, event_id: int) -> None:
    Event.objects.filter(pk=event_id, fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())


def webhook_deliveries_create(*, event: Event) -> list[int]:
    """One delivery per matching partner (idempotent); returns the ids due
    now (partners not paused)."""
    partners = partners_for(event)
    if not partners:
        return []
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(partner=p, event=event, msg_id=f"evt_{event.pk}_{p.pk}", next_attempt_at=now)
                for p in partners
            ],
            ignore_conflicts=True,
        )
    return list(
        WebhookDelivery.objects.filter(
            event=event,
            partner__in=[p for p in partners if p.paused_at is None],
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        ).values_list("pk", flat=True)
    )


def webhook_deliveries_claim(*, delivery_ids: list[int], lease_seconds: float) -> list[int]:
    """Take the due ones among ``delivery_ids`` for this worker: their
    ``next_attempt_at`` becomes a lease. Rows already claimed, delivered or
    given up are left out, so two workers never send one row at once."""
    now = timezone.now()
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(
            pk__in=delivery_ids,
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED],
            next_attempt_at__lte=now,
            partner__active=True,
            partner__paused_at__isnull=True,
        )
        ids = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).update(
            next_attempt_at=now + timedelta(seconds=lease_seconds)
        )
    return ids


def webhook_backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, capped: base·2^(n-1), in [½, 1] of it."""
    delay = min(
        settings.LIVEBLOG_WEBHOOK_BACKOFF_CAP,
        settings.LIVEBLOG_WEBHOOK_BACKOFF_BASE * 2 ** max(0, attempts - 1),
    )
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret


def webhook_attempts_record(*, results) -> None:
    """Log each attempt; settle or reschedule its delivery; keep partner
    health, pausing a partner that has failed for long enough (or answered
    410 Gone). ``results`` carry delivery_id, status_code, error,
    duration_ms and ok. One transaction for the batch."""
    if not results:
        return
    now = timezone.now()
    with transaction.atomic():
        deliveries = {
            d.pk: d
            for d in WebhookDelivery.objects.select_for_update().filter(pk__in=[r.delivery_id for r in results])
        }
        partners = {
            p.pk: p
            for p in WebhookPartner.objects.select_for_update().filter(
                pk__in={d.partner_id for d in deliveries.values()}
            )
        }
        attempts = []
        succeeded: dict[int, list[int]] = {}  # status code -> delivery ids
        failed = []
        for result in results:
            delivery = deliveries.get(result.delivery_id)
            if delivery is None:
                continue
            partner = partners[delivery.partner_id]
            attempts.append(
                WebhookAttempt(
                    delivery=delivery, status_code=result.status_code,
                    error=result.error, duration_ms=result.duration_ms,
                )
            )
            delivery.attempts += 1
            delivery.last_status_code = result.status_code
            if result.ok:
                delivery.status = WebhookDelivery.Status.SUCCEEDED
                delivery.delivered_at = now
                delivery.next_attempt_at = None
                delivery.last_error = ""
                partner.consecutive_failures = 0
                partner.failing_since = None
                partner.last_success_at = now
            else:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.last_error = result.error
                gave_up = delivery.attempts >= settings.LIVEBLOG_WEBHOOK_MAX_ATTEMPTS
                delivery.next_attempt_at = None if gave_up else now + webhook_backoff(delivery.attempts)
                partner.consecutive_failures += 1
                partner.failing_since = partner.failing_since or now
                failing_for = (now - partner.failing_since).total_seconds()
                if partner.paused_at is None and result.status_code == 410:
                    partner.paused_at = now
                    partner.pause_reason = (
                        f"Paused automatically at {now:%Y-%m-%d %H:%M} UTC: the partner answered "
                        "410 Gone (it asked us to stop)."
                    )
                elif (
                    partner.paused_at is None
                    and partner.consecutive_failures >= settings.LIVEBLOG_WEBHOOK_PAUSE_MIN_FAILURES
                    and failing_for >= settings.LIVEBLOG_WEBHOOK_PAUSE_AFTER_SECONDS
                ):
                    partner.paused_at = now
                    partner.pause_reason = (
                        f"Paused automatically at {now:%Y-%m-%d %H:%M} UTC after "
                        f"{partner.consecutive_failures} failed deliveries in a row since "
                        f"{partner.failing_since:%Y-%m-%d %H:%M} UTC. Last error: {result.error or 'none'}"
                    )
            if result.ok:
                succeeded.setdefault(result.status_code, []).append(delivery.pk)
            else:
                failed.append(delivery)
        # Set-based writes: a batch of 200 answered deliveries is a handful of
        # statements, not 400 UPDATEs (which held the worker ~1 s per batch
        # in the 1,000-partner bench; bench/PROFILING.md). The rows are locked
        # above, so F("attempts") + 1 equals the count kept in memory.
        for status_code, ids in succeeded.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                attempts=F("attempts") + 1, last_status_code=status_code,
                status=WebhookDelivery.Status.SUCCEEDED, delivered_at=now, next_attempt_at=None, last_error="",
            )
        WebhookDelivery.objects.bulk_update(
            failed, ["attempts", "last_status_code", "status", "delivered_at", "next_attempt_at", "last_error"]
        )
        WebhookAttempt.objects.bulk_create(attempts)
        healthy = {p.pk for p in partners.values() if p.consecutive_failures == 0 and p.last_success_at == now}
        WebhookPartner.objects.filter(pk__in=healthy).update(
            consecutive_failures=0, failing_since=None, last_success_at=now
        )
        WebhookPartner.objects.bulk_update(
            [p for p in partners.values() if p.pk not in healthy],
            ["consecutive_failures", "failing_since", "last_success_at", "paused_at", "pause_reason"],
        )


def push_claim(*, subscription_id: int, event_id: int) -> bool:
    """Mark ``event_id`` as pushed to this browser; False if it already was
    (each event is pushed at most once per subscription)."""
    return bool(
        PushSubscription.objects.filter(pk=subscription_id, last_event_id__lt=event_id).update(last_event_id=event_id)
    )


def push_subscription_expire(*, subscription_id: int) -> None:
    """The push service says the browser is gone (404/410): forget it."""
    PushSubscription.objects.filter(pk=subscription_id).delete()
