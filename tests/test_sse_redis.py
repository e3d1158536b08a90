"""The Redis live channel: one subscription per process, and readers that
stay connected through a Redis restart miss nothing.

This test restarts the local redis-server (shared by every test run on the
machine, so it is done once and kept short) and always leaves it running.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from posts.delivery import channel
from tests.factories import make_entry

from .fanout_support import SSEClient, wait_until

REDIS_URL = "redis://127.0.0.1:6379/2"
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]


def _redis_up() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


def _start_redis() -> None:
    if not _redis_up():
        subprocess.run(REDIS_START, check=True, timeout=10)
    assert wait_until(_redis_up, timeout=10), "redis-server did not come back"


@pytest.fixture
def redis_channel(settings):
    settings.LIVEBLOG_CHANNEL_BACKEND = "redis"
    # In CI's Redis pass the suite already has a Redis channel: use that one,
    # as a second backend in one process would share its reader bookkeeping.
    settings.REDIS_URL = settings.REDIS_URL or REDIS_URL
    _start_redis()
    yield channel.backend()
    _start_redis()


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
    ours = [c for c in redis.Redis.from_url(REDIS_URL).client_list() if c["name"] == redis_channel.client_name]
    assert len(ours) == 1 and ours[0]["psub"] == "1"  # two readers, one subscription


def test_readers_connected_through_a_redis_restart_miss_nothing(live_url, blog, reporter, redis_channel):
    readers = [_open(live_url, blog.slug) for _ in range(3)]
    assert wait_until(redis_channel.connected.is_set, timeout=5)
    make_entry(blog=blog, user=reporter, body="Before the restart")  # seq 2, live through Redis
    for reader in readers:
        assert [m.id for m in reader.messages(1)] == ["2"]

    try:
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], timeout=10)
        assert wait_until(lambda: not _redis_up(), timeout=5)
        # Committed while Redis is down: the publish fails, the log has them.
        make_entry(blog=blog, user=reporter, body="During the outage 1")  # seq 3
        make_entry(blog=blog, user=reporter, body="During the outage 2")  # seq 4
    finally:
        _start_redis()
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
