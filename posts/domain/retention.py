"""Retention: what is deleted, when, and how gently. One beat task
(``retention_task``) runs every rule in small batches by primary key, each
batch its own short transaction, at most ``LIVEBLOG_RETENTION_MAX_ROWS`` rows
per rule and run. The event log is never deleted (it is the record).
See docs/operations.md ("Retention").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import media_files
from .models import Blog, IdempotencyKey, Media, PushSubscription, Question, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """Rows of one table that are past their keep; ``days`` is read from
    settings at run time (0 keeps them for ever)."""

    name: str
    setting: str
    expired: Callable[[timedelta], QuerySet]
    # Called in each batch's transaction with the rows about to go (files to remove).
    before_delete: Callable[[QuerySet], None] | None = None

    @property
    def days(self) -> float:
        return float(getattr(settings, self.setting))


def _old_attempts(keep: timedelta) -> QuerySet:
    return WebhookAttempt.objects.filter(at__lt=timezone.now() - keep)


def _delivered(keep: timedelta) -> QuerySet:
    # A delivery goes with its attempts (CASCADE): the record of a success
    # is kept as long as the delivery.
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SUCCEEDED, delivered_at__lt=timezone.now() - keep
    )


def _given_up(keep: timedelta) -> QuerySet:
    # Failed with no retry left (next_attempt_at is null): kept longer than
    # successes, for the partner's support questions.
    return WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.FAILED, next_attempt_at__isnull=True, created_at__lt=timezone.now() - keep
    )


def _push_of_closed_blogs(keep: timedelta) -> QuerySet:
    # Nothing is pushed for a closed blog; a reopened blog (status live) keeps them.
    return PushSubscription.objects.filter(
        blog__status=Blog.Status.CLOSED, blog__coverage_end__lt=timezone.now() - keep
    )


def _idempotency_keys(keep: timedelta) -> QuerySet:
    # A key answers retries for 24 h (services/idempotency.py); past the keep it is noise.
    return IdempotencyKey.objects.filter(created_at__lt=timezone.now() - keep)


def _login_records(keep: timedelta) -> QuerySet:
    # django-axes' log of log-ins (the lock-outs themselves, AccessAttempt,
    # expire by its cool-off and are reset by its commands).
    from axes.models import AccessLog

    return AccessLog.objects.filter(attempt_time__lt=timezone.now() - keep)


def _login_failures(keep: timedelta) -> QuerySet:
    from axes.models import AccessFailureLog

    return AccessFailureLog.objects.filter(attempt_time__lt=timezone.now() - keep)


def _handled_questions(keep: timedelta) -> QuerySet:
    # Answered or dismissed: an answer lives on in its entry's quote; the
    # reader's name and words need not be kept beside it. Pending ones wait.
    return Question.objects.filter(handled_at__lt=timezone.now() - keep).exclude(status=Question.Status.PENDING)


def _orphan_media(keep: timedelta) -> QuerySet:
    # Uploaded and never used by an entry (deleting a photo in use is RESTRICTed).
    return Media.objects.filter(entries__isnull=True, created_at__lt=timezone.now() - keep)


def _remove_media_files(rows: QuerySet) -> None:
    names = [name for media in rows for name in media.names]
    transaction.on_commit(lambda: media_files.delete(names))


RULES: list[Rule] = [
    Rule("webhook_attempts", "LIVEBLOG_RETAIN_WEBHOOK_ATTEMPTS_DAYS", _old_attempts),
    Rule("webhook_deliveries_delivered", "LIVEBLOG_RETAIN_DELIVERED_DAYS", _delivered),
    Rule("webhook_deliveries_given_up", "LIVEBLOG_RETAIN_GIVEN_UP_DAYS", _given_up),
    Rule("push_subscriptions_closed_blogs", "LIVEBLOG_RETAIN_PUSH_AFTER_CLOSE_DAYS", _push_of_closed_blogs),
    Rule("idempotency_keys", "LIVEBLOG_RETAIN_IDEMPOTENCY_KEYS_DAYS", _idempotency_keys),
    Rule("login_log", "LIVEBLOG_RETAIN_LOGIN_RECORDS_DAYS", _login_records),
    Rule("login_failures", "LIVEBLOG_RETAIN_LOGIN_RECORDS_DAYS", _login_failures),
    Rule("questions_handled", "LIVEBLOG_RETAIN_QUESTIONS_DAYS", _handled_questions),
    Rule("orphan_media", "LIVEBLOG_RETAIN_ORPHAN_MEDIA_DAYS", _orphan_media, before_delete=_remove_media_files),
]


def delete_in_batches(
    queryset: QuerySet, *, batch: int, max_rows: int, pause: float = 0.0,
    before_delete: Callable[[QuerySet], None] | None = None,
) -> tuple[int, float]:
    """Delete the rows of ``queryset`` oldest key first, ``batch`` at a time,
    each batch its own transaction, stopping after ``max_rows``. Returns
    (rows deleted, including cascades; longest batch in seconds)."""
    deleted, longest, done = 0, 0.0, 0
    while done < max_rows:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: min(batch, max_rows - done)])
        if not ids:
            break
        started = time.monotonic()
        with transaction.atomic():
            rows = queryset.filter(pk__in=ids)  # still expired, under the transaction
            if before_delete is not None:
                before_delete(rows)
            count, _ = rows.delete()
        longest = max(longest, time.monotonic() - started)
        deleted += count
        done += len(ids)
        if len(ids) < batch:
            break
        if pause:
            time.sleep(pause)
    return deleted, longest


def clear_expired_sessions() -> None:
    """What ``manage.py clearsessions`` does, for the configured engine."""
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:
        log.info("session engine %s expires its own sessions", settings.SESSION_ENGINE)


def run() -> dict[str, int]:
    """Apply every rule once; returns rows deleted per rule (cascades
    included) and the longest batch in milliseconds."""
    batch = settings.LIVEBLOG_RETENTION_BATCH
    max_rows = settings.LIVEBLOG_RETENTION_MAX_ROWS
    pause = settings.LIVEBLOG_RETENTION_PAUSE_SECONDS
    report: dict[str, int] = {}
    longest = 0.0
    for rule in RULES:
        if rule.days <= 0:
            continue
        deleted, slowest = delete_in_batches(
            rule.expired(timedelta(days=rule.days)), batch=batch, max_rows=max_rows, pause=pause,
            before_delete=rule.before_delete,
        )
        report[rule.name] = deleted
        longest = max(longest, slowest)
    clear_expired_sessions()
    report["longest_batch_ms"] = round(longest * 1000)
    log.info("retention run", extra={"retention": report})
    return report


def expired_counts() -> dict[str, int]:
    """How many rows each rule would delete now (the bench and the note of
    an operator deciding on a keep)."""
    counts = {rule.name: rule.expired(timedelta(days=rule.days)).count() for rule in RULES if rule.days > 0}
    counts["sessions_expired"] = _expired_sessions()
    return counts


def _expired_sessions() -> int:
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return 0
    from django.contrib.sessions.models import Session

    return Session.objects.filter(expire_date__lt=timezone.now()).count()

