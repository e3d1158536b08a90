"""The transactional outbox's safety net: an event whose fan-out was lost
(broker down at commit, a fan-out that crashed half-way) is sent by the
sweep, and readers still see it exactly once."""

from __future__ import annotations

import asyncio
import concurrent.futures

from posts.delivery import channel, fanout, tasks
from posts.domain.models import Event
from tests.factories import make_entry

from .fanout_support import SSEClient


def _run(scenario):
    """asyncio.run on a fresh thread (Playwright may hold this one's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result(timeout=10)


def _broker_down(*args, **kwargs):
    raise ConnectionError("broker unreachable")


def test_an_event_whose_hand_off_was_lost_is_sent_by_the_sweep(live_url, blog, reporter, settings, monkeypatch):
    settings.LIVEBLOG_SWEEP_GRACE_SECONDS = 0
    reader = SSEClient(f"{live_url}/live/{blog.slug}/events")
    reader.next()  # retry: — the stream is open
    with monkeypatch.context() as patch:
        patch.setattr(tasks.fan_out_task, "apply_async", _broker_down)  # delay() goes through it too
        make_entry(blog=blog, user=reporter, body="Sent while the broker was down")
    event = Event.objects.get(blog=blog, seq=2)
    assert event.fanned_out_at is None

    assert tasks.sweep_task()["events"] == 1
    [message] = reader.messages(1)
    reader.close()
    assert message.id == "2" and message.json["entry"]["body"] == "Sent while the broker was down"
    event.refresh_from_db()
    assert event.fanned_out_at is not None
    assert tasks.sweep_task()["events"] == 0


def test_a_fan_out_that_crashed_half_way_is_finished_by_the_sweep(blog, reporter, settings, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    settings.LIVEBLOG_SWEEP_GRACE_SECONDS = 0
    published = []
    with monkeypatch.context() as patch:
        patch.setattr(fanout.channel, "publish", _broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            make_entry(blog=blog, user=reporter)
    event = Event.objects.get(blog=blog, seq=2)
    assert event.fanned_out_at is None

    monkeypatch.setattr(fanout.channel, "publish", lambda slug, message: published.append(message["seq"]))
    tasks.sweep_task()
    event.refresh_from_db()
    # seq 1 (the blog's creation, committed outside this test's capture) was
    # never handed off either: the sweep sends both, in order.
    assert event.fanned_out_at is not None and published == [1, 2]


def test_the_sweep_leaves_fresh_events_to_their_own_fan_out(blog, reporter, settings, monkeypatch):
    settings.LIVEBLOG_SWEEP_GRACE_SECONDS = 60
    monkeypatch.setattr(tasks.fan_out_task, "apply_async", _broker_down)
    make_entry(blog=blog, user=reporter)
    assert Event.objects.filter(fanned_out_at__isnull=True).exists()
    assert tasks.sweep_task()["events"] == 0


def test_publish_from_any_thread_reaches_only_readers_of_that_blog(settings):
    settings.LIVEBLOG_CHANNEL_BACKEND = "memory"

    async def scenario():
        a, b = channel.subscribe("blog-a"), channel.subscribe("blog-b")
        try:
            assert channel.reader_count("blog-a") == 1
            await asyncio.to_thread(channel.publish, "blog-a", {"seq": 7, "type": "entry.published"})
            got = await asyncio.wait_for(a.get(), 1)
            assert b.queue.empty()
            return got
        finally:
            channel.unsubscribe(a)
            channel.unsubscribe(b)

    assert _run(scenario)["seq"] == 7
    assert channel.reader_count("blog-a") == 0


def test_a_reader_too_far_behind_is_told_to_resync_instead_of_growing_without_bound(settings):
    settings.LIVEBLOG_CHANNEL_BACKEND = "memory"

    async def scenario():
        reader = channel.subscribe("slow")
        try:
            for seq in range(channel.READER_QUEUE_SIZE + 5):
                channel.publish("slow", {"seq": seq, "type": "entry.published"})
            return reader.queue.qsize(), await reader.get()
        finally:
            channel.unsubscribe(reader)

    size, first = _run(scenario)
    assert first is channel.RESYNC and size < channel.READER_QUEUE_SIZE
