"""Retention: every rule deletes only what is past its keep, in bounded
batches, and the event log stays whole."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from posts.domain import retention, services
from posts.domain.models import Event, PushSubscription, WebhookAttempt, WebhookDelivery, WebhookPartner
from posts.domain.tasks import retention_task

from .factories import make_blog, make_entry

DAY = timedelta(days=1)


def _delivery(partner, event, *, status, age: timedelta, attempts: int = 1, retry: bool = False):
    at = timezone.now() - age
    delivery = WebhookDelivery.objects.create(
        partner=partner, event=event, msg_id=f"evt_{event.pk}_{partner.pk}", status=status, attempts=attempts,
        delivered_at=at if status == WebhookDelivery.Status.SUCCEEDED else None,
        next_attempt_at=at + DAY if retry else None,
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=at)
    for _ in range(attempts):
        attempt = WebhookAttempt.objects.create(delivery=delivery, status_code=200)
        WebhookAttempt.objects.filter(pk=attempt.pk).update(at=at)
    return delivery


def test_each_rule_deletes_only_rows_past_their_keep_and_the_event_log_stays(blog, reporter, editor):
    for i in range(6):
        make_entry(blog=blog, user=reporter, body=f"Entry {i}")
    events = list(Event.objects.filter(blog=blog).order_by("seq"))
    partners = [WebhookPartner.objects.create(url=f"https://p{i}.example/hook", secret="whsec_x") for i in range(2)]
    ok, failed = WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.FAILED
    old_success = _delivery(partners[0], events[0], status=ok, age=8 * DAY)
    young_success = _delivery(partners[0], events[1], status=ok, age=6 * DAY)
    old_given_up = _delivery(partners[0], events[2], status=failed, age=31 * DAY, attempts=3)
    retrying = _delivery(partners[1], events[2], status=failed, age=31 * DAY, attempts=2, retry=True)
    young_given_up = _delivery(partners[1], events[3], status=failed, age=20 * DAY)

    closed = make_blog(editor=editor, title="Closed long ago")
    services.blog_close(blog=closed, user=editor, body="That is all.")
    closed.refresh_from_db()
    type(closed).objects.filter(pk=closed.pk).update(coverage_end=timezone.now() - 8 * DAY)
    recent = make_blog(editor=editor, title="Closed yesterday")
    services.blog_close(blog=recent, user=editor, body="Goodnight.")
    for target in (closed, recent, blog):
        PushSubscription.objects.create(blog=target, endpoint=f"https://push.example/{target.slug}", p256dh="k", auth="a")
    events_before = Event.objects.count()

    report = retention.run()

    remaining = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert remaining == {young_success.pk, retrying.pk, young_given_up.pk}
    assert old_success.pk not in remaining and old_given_up.pk not in remaining
    # The retrying delivery keeps its delivery row; its 31-day-old attempts go.
    assert not WebhookAttempt.objects.filter(delivery=retrying).exists()
    assert WebhookAttempt.objects.filter(delivery=young_success).count() == 1
    assert set(PushSubscription.objects.values_list("blog__slug", flat=True)) == {recent.slug, blog.slug}
    assert Event.objects.count() == events_before
    assert report["webhook_deliveries_delivered"] == 2  # the delivery and its attempt
    assert report["push_subscriptions_closed_blogs"] == 1
    assert retention.expired_counts() == {
        "webhook_attempts": 0, "webhook_deliveries_delivered": 0, "webhook_deliveries_given_up": 0,
        "push_subscriptions_closed_blogs": 0, "idempotency_keys": 0, "login_log": 0, "login_failures": 0,
        "questions_handled": 0, "orphan_media": 0, "sessions_expired": 0,
    }


def test_deletes_go_in_small_batches_and_stop_at_the_bound_per_run(blog, reporter, settings):
    make_entry(blog=blog, user=reporter)
    event = Event.objects.filter(blog=blog).first()
    partners = WebhookPartner.objects.bulk_create(
        [WebhookPartner(url=f"https://p{i}.example/", secret="whsec_x") for i in range(25)]
    )
    for partner in partners:
        _delivery(partner, event, status=WebhookDelivery.Status.SUCCEEDED, age=10 * DAY, attempts=0)
    settings.LIVEBLOG_RETENTION_BATCH = 10
    settings.LIVEBLOG_RETENTION_MAX_ROWS = 20
    settings.LIVEBLOG_RETENTION_PAUSE_SECONDS = 0
    deleted, longest = retention.delete_in_batches(
        retention.RULES[1].expired(timedelta(days=7)), batch=10, max_rows=20
    )
    assert deleted == 20 and longest < 5
    assert WebhookDelivery.objects.count() == 5
    retention_task.delay()  # the beat task: the rest
    assert WebhookDelivery.objects.count() == 0


def test_a_rule_set_to_zero_days_keeps_rows_for_ever(blog, reporter, settings):
    make_entry(blog=blog, user=reporter)
    event = Event.objects.filter(blog=blog).first()
    partner = WebhookPartner.objects.create(url="https://p.example/", secret="whsec_x")
    _delivery(partner, event, status=WebhookDelivery.Status.SUCCEEDED, age=400 * DAY)
    settings.LIVEBLOG_RETAIN_DELIVERED_DAYS = 0
    settings.LIVEBLOG_RETAIN_WEBHOOK_ATTEMPTS_DAYS = 0
    retention.run()
    assert WebhookDelivery.objects.count() == 1 and WebhookAttempt.objects.count() == 1


def test_expired_sessions_are_cleared_as_clearsessions_does(db):
    live, dead = SessionStore(), SessionStore()
    live.create()
    dead.create()
    Session.objects.filter(session_key=dead.session_key).update(expire_date=timezone.now() - DAY)
    retention.run()
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


def test_idempotency_keys_and_login_records_go_after_their_keep(db):
    from axes.models import AccessFailureLog, AccessLog

    from posts.domain.models import IdempotencyKey
    from posts.domain.services.idempotency import idempotency_claim, user_scope

    old, _ = idempotency_claim(scope=user_scope(1), key="old", fingerprint="a")
    fresh, _ = idempotency_claim(scope=user_scope(1), key="fresh", fingerprint="b")
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - 3 * DAY)
    log_old = AccessLog.objects.create(username="ann", ip_address="192.0.2.1", user_agent="x")
    log_new = AccessLog.objects.create(username="ann", ip_address="192.0.2.1", user_agent="x")
    failure = AccessFailureLog.objects.create(username="ann", ip_address="192.0.2.1", user_agent="x")
    AccessLog.objects.filter(pk=log_old.pk).update(attempt_time=timezone.now() - 31 * DAY)
    AccessFailureLog.objects.filter(pk=failure.pk).update(attempt_time=timezone.now() - 31 * DAY)

    deleted = retention.run()

    assert deleted["idempotency_keys"] == 1 and deleted["login_log"] == 1 and deleted["login_failures"] == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [log_new.pk]
    assert not AccessFailureLog.objects.exists()
