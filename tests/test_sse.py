"""The live channel's SSE endpoint, against a real ASGI server (uvicorn)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from posts.delivery import channel, fanout
from posts.domain import services
from posts.domain.models import Event
from tests.factories import make_blog, make_entry

from .fanout_support import SSEClient, wait_until


def _open(live_url, blog, **kwargs) -> SSEClient:
    client = SSEClient(f"{live_url}/live/{blog.slug}/events", **kwargs)
    assert client.status == 200
    first = client.next()
    assert first.retry == 3000
    return client


def test_new_entries_arrive_with_seq_as_id_and_type_as_event(live_url, blog, reporter):
    client = _open(live_url, blog)
    assert client.headers["content-type"].startswith("text/event-stream")
    assert client.headers["cache-control"].startswith("no-cache")
    assert client.headers["x-accel-buffering"] == "no"

    entry = make_entry(blog=blog, user=reporter, body="The polls have closed.")
    [message] = client.messages(1)
    client.close()

    event = Event.objects.get(blog=blog, type="entry.published")
    assert message.id == str(event.seq)
    assert message.event == "entry.published"
    data = message.json
    assert data["seq"] == event.seq and data["type"] == "entry.published"
    assert data["entry"]["id"] == entry.pk
    assert data["entry"]["body"] == "The polls have closed."


def test_resume_after_last_event_id_replays_exactly_the_missed_events(live_url, blog, reporter):
    for n in range(4):
        make_entry(blog=blog, user=reporter, body=f"Update {n}")  # seqs 2..5
    client = _open(live_url, blog, last_event_id="3")
    replayed = client.messages(2)
    make_entry(blog=blog, user=reporter, body="After the reconnect")
    [live] = client.messages(1)
    client.close()

    assert [m.id for m in replayed] == ["4", "5"]
    assert [m.json["entry"]["body"] for m in replayed] == ["Update 2", "Update 3"]
    assert live.id == "6" and live.json["entry"]["body"] == "After the reconnect"


def test_resume_accepts_the_last_event_id_query_parameter(live_url, blog, reporter):
    make_entry(blog=blog, user=reporter, body="One")  # seq 2
    make_entry(blog=blog, user=reporter, body="Two")  # seq 3
    client = SSEClient(f"{live_url}/live/{blog.slug}/events?last_event_id=2")
    [message] = client.messages(1)
    client.close()
    assert message.id == "3" and message.json["entry"]["body"] == "Two"


def test_a_message_lost_on_the_way_is_filled_in_from_the_log(live_url, blog, reporter, monkeypatch):
    client = _open(live_url, blog)
    real_publish = channel.publish
    dropped = []

    def lossy_publish(slug, message):
        if not dropped:
            dropped.append(message["seq"])
            return
        real_publish(slug, message)

    monkeypatch.setattr(fanout.channel, "publish", lossy_publish)
    make_entry(blog=blog, user=reporter, body="Lost in transit")
    make_entry(blog=blog, user=reporter, body="Arrives")
    messages = client.messages(2)
    client.close()

    assert dropped == [2]
    assert [m.id for m in messages] == ["2", "3"]
    assert [m.json["entry"]["body"] for m in messages] == ["Lost in transit", "Arrives"]


def test_duplicate_publishes_reach_the_reader_once(live_url, blog, reporter):
    client = _open(live_url, blog)
    make_entry(blog=blog, user=reporter, body="Once")
    event = Event.objects.get(blog=blog, seq=2)
    channel.publish(blog.slug, event.message)  # a second fan-out run
    make_entry(blog=blog, user=reporter, body="Twice?")
    messages = client.messages(2)
    client.close()
    assert [m.id for m in messages] == ["2", "3"]


def test_quiet_streams_send_heartbeat_comments(live_url, blog, settings):
    settings.LIVEBLOG_SSE_HEARTBEAT_SECONDS = 0.2
    client = _open(live_url, blog)
    block = client.next()
    client.close()
    assert block.event is None and block.comments == ["heartbeat"]


def test_closed_blog_sends_what_was_missed_then_ends_and_then_answers_204(live_url, blog, editor):
    services.blog_close(blog=blog, user=editor, body="That's all from us tonight.")
    # seq 2: the closing note, seq 3: blog.closed
    client = SSEClient(f"{live_url}/live/{blog.slug}/events", last_event_id="1")
    messages = client.rest()
    client.close()
    assert [(m.id, m.event) for m in messages] == [("2", "entry.published"), ("3", "blog.closed")]

    again = SSEClient(f"{live_url}/live/{blog.slug}/events", last_event_id="3")
    assert again.status == 204
    again.close()


def test_a_live_stream_ends_after_the_blog_closes(live_url, blog, editor):
    client = _open(live_url, blog)
    services.blog_close(blog=blog, user=editor, body="Goodnight.")
    messages = client.rest()
    client.close()
    assert [m.event for m in messages] == ["entry.published", "blog.closed"]


def test_unknown_and_draft_blogs_are_404_and_a_bad_last_event_id_is_400(live_url, editor):
    draft = make_blog(editor=editor, title="Not yet", status="draft")
    for slug in ("no-such-blog", draft.slug):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{live_url}/live/{slug}/events", timeout=5)
        assert err.value.code == 404
    live = make_blog(editor=editor, title="Live now")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{live_url}/live/{live.slug}/events?last_event_id=abc", timeout=5)
    assert err.value.code == 400
    assert "Last-Event-ID" in json.loads(err.value.read())["detail"]


def test_reader_count_follows_open_connections(live_url, blog):
    assert channel.reader_count(blog.slug) == 0
    clients = [_open(live_url, blog) for _ in range(3)]
    assert wait_until(lambda: channel.reader_count(blog.slug) == 3, timeout=5)
    for client in clients:
        client.close()
    assert wait_until(lambda: channel.reader_count(blog.slug) == 0, timeout=5)


def test_desks_listen_live_but_are_not_counted_as_readers(live_url, blog, reporter):
    desk = SSEClient(f"{live_url}/live/{blog.slug}/events?desk=1")
    assert desk.status == 200
    desk.next()
    reader = _open(live_url, blog)
    assert wait_until(lambda: channel.reader_count(blog.slug) == 1, timeout=5)
    make_entry(blog=blog, user=reporter, body="Both hear this.")
    [for_desk] = desk.messages(1)
    [for_reader] = reader.messages(1)
    assert for_desk.event == for_reader.event == "entry.published"
    desk.close()
    reader.close()
    assert wait_until(lambda: channel.reader_count(blog.slug) == 0, timeout=5)
