"""Celery tasks: thin, idempotent, keyed by an id, safe to run twice.

The work lives in :mod:`posts.fanout`, :mod:`posts.webhooks`,
:mod:`posts.push` and :mod:`posts.websub`; state changes in
:mod:`posts.services`. Beat runs :func:`sweep` and :func:`publish_scheduled`
every ``LIVEBLOG_SWEEP_SECONDS`` (see ``liveblog/celery.py``).
"""

from __future__ import annotations

import logging

import requests
from celery import shared_task

from . import fanout, push, services, webhooks, websub

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def fan_out(event_id: int) -> None:
    """Send one committed event everywhere (no-op once confirmed)."""
    fanout.fan_out(event_id)


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhooks(delivery_ids: list[int]) -> None:
    """POST a batch of webhook deliveries concurrently. Each is claimed
    first, so a delivery another worker holds (or has sent) is skipped;
    failures are rescheduled on the delivery row, not by Celery."""
    webhooks.deliver(delivery_ids)


@shared_task(acks_late=True, ignore_result=True)
def send_push(event_id: int, subscription_ids: list[int]) -> None:
    push.send_batch(event_id=event_id, subscription_ids=subscription_ids)


def _call_with_retry(task, call, what: str) -> None:
    """Run ``call``; on an HTTP failure retry with capped exponential backoff
    (in-process, where there is no broker to retry through, log and give up:
    the next event purges or pings again)."""
    try:
        call()
    except requests.RequestException as exc:
        if task.request.is_eager:
            log.warning("%s failed: %s", what, exc)
            return
        raise task.retry(exc=exc, countdown=min(300, 2 ** (task.request.retries + 1))) from exc


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=6)
def purge_cdn(self, slug: str) -> None:
    _call_with_retry(self, lambda: fanout.purge_cdn(slug), f"CDN purge for {slug}")


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=6)
def ping_hub(self, slug: str) -> None:
    _call_with_retry(self, lambda: websub.ping(slug), f"WebSub ping for {slug}")


@shared_task(ignore_result=True)
def sweep() -> dict:
    """Re-enqueue unconfirmed events and due webhook deliveries."""
    return fanout.sweep()


@shared_task(ignore_result=True)
def publish_scheduled() -> int:
    """Publish scheduled entries whose time has come (exactly once each)."""
    return services.publish_due_entries()
