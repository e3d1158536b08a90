"""The fan-out hands each blog's events to the live channel in seq order,
always: a real Celery worker running four tasks side by side drains a
backlog, and the channel (what Nchan readers get, frame by frame, with no
reordering of their own) sees every seq once, in order."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import redis

from posts.domain.models import Event

from .factories import make_blog, make_entry
from .fanout_support import TEST_BROKER_URL, celery_worker, purge_test_broker, real_broker, wait_until


@pytest.fixture
def worker_db(transactional_db, settings):
    purge_test_broker()
    yield
    purge_test_broker()


class ChannelWatcher:
    """Subscribes to the blog's Redis live channel and notes each seq as
    published, in the order it arrives."""

    def __init__(self, slug: str) -> None:
        self.seqs: list[int] = []
        self.pubsub = redis.Redis.from_url(TEST_BROKER_URL).pubsub(ignore_subscribe_messages=True)
        # The worker's channel prefix: its cache's KEY_PREFIX (settings).
        self.pubsub.subscribe(f"{os.environ.get('CACHE_KEY_PREFIX', 'lb')}:live:{slug}")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import orjson

        while not self.stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                self.seqs.append(orjson.loads(message["data"])["seq"])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.pubsub.close()


def test_a_worker_draining_a_backlog_publishes_each_blog_in_seq_order(worker_db, editor, reporter):
    slugs = [f"order-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    watchers = {slug: ChannelWatcher(slug) for slug in slugs}
    try:
        with real_broker():
            # The backlog: each blog's creation and 20 entries, 42 fan-outs
            # queued while no worker runs.
            blogs = [make_blog(editor=editor, slug=slug) for slug in slugs]
            for i in range(20):
                for blog in blogs:
                    make_entry(blog=blog, user=reporter, body=f"Update {i}")
            with celery_worker("order", beat=True, concurrency=4) as worker:
                done = wait_until(
                    lambda: not Event.objects.filter(fanned_out_at__isnull=True).exists(), timeout=60
                )
                assert done, worker.log_path.read_text()[-3000:]
                time.sleep(0.5)  # the last messages reach the watchers
    finally:
        for watcher in watchers.values():
            watcher.close()
    for blog in blogs:
        expected = list(Event.objects.filter(blog=blog).order_by("seq").values_list("seq", flat=True))
        assert len(expected) == 21
        assert watchers[blog.slug].seqs == expected
