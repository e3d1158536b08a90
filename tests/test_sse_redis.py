"""The Redis live channel: one subscription per process, and readers that
stay connected through a Redis restart miss nothing.

The tests run their own redis-server on a free port (tests/test_redis_loss.py's
RedisServer) and restart that one: the machine's Redis is never touched.
"""

from __future__ import annotations

import time

import pytest
import redis

from posts.delivery import channel
from tests.factories import make_entry

from .fanout_support import SSEClient, wait_until
from .test_redis_loss import RedisServer


@pytest.fixture
def redis_channel(settings):
    """The live channel on a private redis-server, stopped at the end."""
    server = RedisServer()
    server.start()
    # One Redis backend per process, as in production: the suite's own (CI's
    # Redis pass) would share the reader bookkeeping; it is made again on demand.
    for key in [k for k in channel._backends if k[0] == "redis"]:
        channel._backends.pop(key).stop()
    settings.LIVEBLOG_CHANNEL_BACKEND = "redis"
    settings.REDIS_URL = server.url
    backend = channel.backend()
    backend.server = server
    yield backend
    channel._backends.pop(("redis", server.url), None)
    backend.stop()
    server.stop()


def _redis_up(server) -> bool:
    try:
        return redis.Redis.from_url(server.url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


def _open(live_url, slug) -> SSEClient:
    client = SSEClient(f"{live_url}/live/{slug}/events", timeout=15)
    assert client.next().retry  # the stream is open
    return client


def test_events_reach_readers_through_one_redis_subscription_per_process(live_url, blog, reporter, redis_channel):
    readers = [_open(live_url, blog.slug) for _ in range(2)]
    assert wait_until(redis_channel.connected.is_set, timeout=5)
    assert wait_until(lambda: channel.reader_count(blog.slug) == 2, timeout=5)
    make_entry(blog=blog, user=reporter, body="Through Redis")
    for reader in readers:
        [message] = reader.messages(1)
        assert message.id == "2" and message.json["entry"]["body"] == "Through Redis"
        reader.close()
    clients = redis.Redis.from_url(redis_channel.server.url).client_list()
    ours = [c for c in clients if c["name"] == redis_channel.client_name]
    assert len(ours) == 1 and ours[0]["psub"] == "1"  # two readers, one subscription


def test_readers_connected_through_a_redis_restart_miss_nothing(live_url, blog, reporter, redis_channel):
    readers = [_open(live_url, blog.slug) for _ in range(3)]
    assert wait_until(redis_channel.connected.is_set, timeout=5)
    make_entry(blog=blog, user=reporter, body="Before the restart")  # seq 2, live through Redis
    for reader in readers:
        assert [m.id for m in reader.messages(1)] == ["2"]

    server = redis_channel.server
    try:
        server.stop()
        assert wait_until(lambda: not _redis_up(server), timeout=5)
        # Committed while Redis is down: the publish fails, the log has them.
        make_entry(blog=blog, user=reporter, body="During the outage 1")  # seq 3
        make_entry(blog=blog, user=reporter, body="During the outage 2")  # seq 4
    finally:
        server.start()
    assert wait_until(redis_channel.connected.is_set, timeout=10)
    time.sleep(0.2)
    make_entry(blog=blog, user=reporter, body="After the restart")  # seq 5

    for reader in readers:
        messages = reader.messages(3)
        reader.close()
        assert [m.id for m in messages] == ["3", "4", "5"]
        assert [m.json["entry"]["body"] for m in messages] == [
            "During the outage 1", "During the outage 2", "After the restart",
        ]
