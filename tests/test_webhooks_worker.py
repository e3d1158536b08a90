"""Webhooks through a real Celery worker (a subprocess) and Redis.

The partner is a local HTTP server that behaves like a careful partner:
it processes a webhook-id the first time it sees it and answers any repeat
as an already-seen duplicate (the Standard Webhooks idempotency contract).
"""

from __future__ import annotations

import threading

import pytest
from standardwebhooks.webhooks import Webhook

from posts.domain import services
from posts.domain.models import Event, WebhookAttempt, WebhookDelivery
from tests.factories import make_blog, make_entry

from .fanout_support import Recorder, celery_worker, kill_group, purge_test_broker, real_broker, wait_until


class DedupingPartner:
    """Slow on first sight of an id (so a worker can die mid-request)."""

    def __init__(self, *, first_delay: float = 0.0):
        self.first_delay = first_delay
        self.lock = threading.Lock()
        self.processed: list[str] = []
        self.duplicates: list[str] = []
        self.seen: set[str] = set()
        self.server = Recorder(self.respond)

    def respond(self, rec):
        msg_id = rec.headers["webhook-id"]
        with self.lock:
            new = msg_id not in self.seen
            self.seen.add(msg_id)
        if not new:
            with self.lock:
                self.duplicates.append(msg_id)
            return 200, 0
        # Process first, then answer (slowly): the work is done even if the
        # sender gives up on the answer.
        with self.lock:
            self.processed.append(msg_id)
        return 200, self.first_delay


@pytest.fixture
def worker_db(transactional_db, settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    purge_test_broker()
    yield
    purge_test_broker()


def test_a_real_worker_delivers_signed_webhooks(worker_db, editor, reporter):
    partner_server = DedupingPartner()
    blog = make_blog(editor=editor)
    partner, secret = services.webhook_partner_create(user=editor, url=f"{partner_server.server.url}/hook")
    try:
        with real_broker(), celery_worker("deliver", beat=False) as worker:
            make_entry(blog=blog, user=reporter, body="Exit poll published.")
            assert wait_until(
                lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 1, timeout=20
            ), worker.log_path.read_text()[-3000:]
    finally:
        partner_server.server.close()
    [request] = partner_server.server.requests
    payload = Webhook(secret).verify(request.body.decode(), request.headers)
    assert payload["data"]["entry"]["body"] == "Exit poll published."
    assert Event.objects.filter(fanned_out_at__isnull=True).count() == 0


def test_a_worker_killed_mid_delivery_is_finished_by_another_and_no_id_is_new_twice(worker_db, editor, reporter):
    partner_server = DedupingPartner(first_delay=3)
    blog = make_blog(editor=editor)
    partner, _ = services.webhook_partner_create(user=editor, url=f"{partner_server.server.url}/hook")
    env = {"LIVEBLOG_WEBHOOK_TIMEOUT": "1"}  # lease = timeout + 5 s
    try:
        with real_broker():
            with celery_worker("doomed", **env) as doomed:
                make_entry(blog=blog, user=reporter, body="First")
                make_entry(blog=blog, user=reporter, body="Second")
                assert wait_until(lambda: partner_server.server.requests, timeout=20), doomed.log_path.read_text()[-3000:]
                kill_group(doomed)  # SIGKILL while the partner is still answering
            assert WebhookDelivery.objects.filter(status="succeeded").count() == 0
            with celery_worker("rescuer", **env) as rescuer:
                assert wait_until(
                    lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 2, timeout=30
                ), rescuer.log_path.read_text()[-3000:]
    finally:
        partner_server.server.close()

    expected = set(WebhookDelivery.objects.filter(partner=partner).values_list("msg_id", flat=True))
    assert len(expected) == 2
    assert sorted(partner_server.processed) == sorted(expected)  # each id processed once as new
    # The killed worker's request was sent again, under the same id.
    assert partner_server.duplicates and set(partner_server.duplicates) <= expected
    assert {r.headers["webhook-id"] for r in partner_server.server.requests} == expected
    assert WebhookAttempt.objects.filter(delivery__partner=partner, status_code=200).count() == 2
