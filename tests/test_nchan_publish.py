"""Publishing to Nchan never sends an event twice: a publish that failed
after reaching the readers (an edge killed mid-request answers 502 through
the balancer) is recognised by the channel's last message id, asked before
and after. A local HTTP server stands in for the publisher (the balancer's
answers included); deploy/cluster's drills do it with real engines."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from posts.delivery import nchan


class FakePublisher:
    """Nchan's publisher location: POST publishes (``fail`` lists what the
    next POSTs do: ``"after"`` publishes then answers 502, ``"before"``
    answers 502 without publishing); GET is the channel's info."""

    def __init__(self):
        self.published: list[bytes] = []
        self.fail: list[str] = []
        self.posts = 0
        # Nchan's ids start with the message's time; the hand-off trusts only
        # recent ones (posts/delivery/nchan.py), so the fake's are of now.
        self.now = int(time.time())
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if not fake.published:
                    self._reply(404, b"")
                    return
                self._reply(200, json.dumps({"last_message_id": f"{fake.now}:{len(fake.published) - 1}", "messages": len(fake.published)}).encode())

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.posts += 1
                how = fake.fail.pop(0) if fake.fail else "ok"
                if how != "before":
                    fake.published.append(body)
                if how == "ok":
                    self._reply(202, json.dumps({"last_message_id": f"{fake.now}:{len(fake.published) - 1}", "messages": len(fake.published)}).encode())
                else:
                    self._reply(502, b"<html>502 Bad Gateway</html>")

            def _reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pub"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def publisher(settings):
    fake = FakePublisher()
    settings.LIVEBLOG_NCHAN_PUBLISH_URL = fake.url
    # The Redis pass keeps the cache between tests: each starts with no
    # records and no pending publish of the channel.
    cache.delete_many([nchan.record_key("night"), nchan._pending_key("night")])
    yield fake
    fake.close()


MESSAGE = {"seq": 7, "type": "entry.deleted", "entry": {"id": 1}}


def test_a_publish_that_reached_the_readers_before_failing_is_not_sent_again(publisher, db):
    publisher.fail = ["after"]
    nchan.publish("night", MESSAGE)
    assert publisher.posts == 1 and len(publisher.published) == 1
    assert nchan.resume_after("night", 7) == f"{publisher.now}:0"  # recorded as Nchan's id for seq 7


def test_a_publish_that_failed_before_reaching_the_readers_is_sent_once_more(publisher, db):
    publisher.published.append(b"an earlier message")
    publisher.fail = ["before"]
    nchan.publish("night", MESSAGE)
    assert publisher.posts == 2 and len(publisher.published) == 2
    assert publisher.published[-1].startswith(b"retry: 3000\nid: 7\n")


def test_a_publish_failing_twice_raises_for_the_task_to_retry(publisher, db):
    publisher.fail = ["before", "before"]
    with pytest.raises(OSError):
        nchan.publish("night", MESSAGE)
    assert publisher.posts == 2 and publisher.published == []


def _published(seq: int, type_: str = "entry.published") -> dict:
    return {"seq": seq, "type": type_, "entry": {"id": seq}}


def test_a_resume_across_a_takedown_is_never_handed_to_nchan(publisher, db):
    """Nchan's buffer still holds the deleted entry's text; the event log's
    replay carries a tombstone instead."""
    for message in (_published(7), _published(8, "entry.deleted"), _published(9)):
        nchan.publish("night", message)
    assert nchan.resume_after("night", 6) is None  # the deletion is among what it missed
    assert nchan.resume_after("night", 7) is None
    assert nchan.resume_after("night", 8) == f"{publisher.now}:1"  # after it: Nchan's
    assert nchan.resume_after("night", 9) == f"{publisher.now}:2"


def test_how_long_ago_the_missed_messages_were_published_does_not_matter_while_nchan_holds_them(publisher, db):
    """After an outage every reader resumes seconds late: a time window would
    send them all to the app's replay."""
    publisher.now = int(time.time()) - 200
    for seq in (7, 8, 9):
        nchan.publish("night", _published(seq))
    assert nchan.resume_after("night", 7) == f"{publisher.now}:0"
    publisher.now = int(time.time()) - nchan.KEEP_TRUSTED - 5
    nchan.publish("night", _published(10))
    assert nchan.resume_after("night", 9) is nchan.STALE  # Nchan may no longer hold them


def test_a_reader_further_behind_than_the_hand_off_serves_is_replayed_by_the_app(publisher, db):
    for seq in range(1, nchan.HANDOFF_MESSAGES + 2):
        nchan.publish("night", _published(seq))
    latest = nchan.HANDOFF_MESSAGES + 1
    assert nchan.resume_after("night", 1) is None
    assert isinstance(nchan.resume_after("night", latest - nchan.HANDOFF_MESSAGES + 1), str)


def test_a_publisher_killed_after_nchan_took_the_message_does_not_make_it_go_out_twice(publisher, db):
    """The Celery worker's kill -9 between Nchan's answer and the fan-out's
    note: the task runs again and must not send the seq twice."""
    nchan.publish("night", _published(7))
    real_record = nchan._record

    def killed(*args, **kwargs):
        raise SystemExit("killed")  # the process dies here

    nchan._record = killed
    try:
        with pytest.raises(SystemExit):
            nchan.publish("night", _published(8))
    finally:
        nchan._record = real_record
    assert len(publisher.published) == 2
    nchan.publish("night", _published(8))  # the task again
    assert len(publisher.published) == 2
    assert nchan.resume_after("night", 7) == f"{publisher.now}:0"
    assert nchan.resume_after("night", 8) == f"{publisher.now}:1"
    nchan.publish("night", _published(9))
    assert len(publisher.published) == 3


def test_a_publisher_killed_before_nchan_took_the_message_sends_it_when_run_again(publisher, db):
    nchan.publish("night", _published(7))
    publisher.fail = ["before", "before"]
    with pytest.raises(OSError):
        nchan.publish("night", _published(8))
    nchan.publish("night", _published(8))
    assert len(publisher.published) == 2
    assert publisher.published[-1].split(b"\n")[1] == b"id: 8"
