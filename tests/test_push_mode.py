"""Overload control: the server sets readers' pace (/updates' poll_ms and
push, SSE's retry:) and an operator moves one blog's readers, or every
blog's, from streams to polling (posts/delivery/pushmode.py)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from posts.delivery import nchan, pushmode
from tests.factories import make_blog

from .fanout_support import SSEClient


@pytest.fixture
def switch_back(blog):
    """The switch lives in the shared cache (Redis in the second pass), which
    outlives a test: every test leaves it as it found it."""
    yield
    pushmode.switch(None)
    pushmode.switch(None, slug=blog.slug)


def _updates(client, blog) -> dict:
    return client.get(f"/api/blogs/{blog.slug}/updates?since=0").json()


def test_updates_carry_the_pace_and_the_setting_moves_every_blog_to_polling(client, blog, settings):
    data = _updates(client, blog)
    assert (data["push"], data["poll_ms"]) == ("sse", 5000)
    settings.LIVEBLOG_PUSH_MODE = "poll"
    settings.LIVEBLOG_OVERLOAD_POLL_SECONDS = 30
    data = _updates(client, blog)  # a new pace is a new cache entry, not the old answer
    assert (data["push"], data["poll_ms"]) == ("poll", 30000)


def test_the_switch_moves_one_blog_and_then_all(client, blog, editor, switch_back):
    other = make_blog(editor=editor, slug="the-other-night")
    try:
        pushmode.switch("poll", slug=blog.slug)
        assert _updates(client, blog)["push"] == "poll"
        assert _updates(client, other)["push"] == "sse"
        pushmode.switch("poll")
        assert _updates(client, other)["push"] == "poll"
        pushmode.switch("sse", slug=other.slug)  # one blog kept on streams
        assert _updates(client, other)["push"] == "sse"
    finally:
        pushmode.switch(None, slug=blog.slug)
        pushmode.switch(None, slug=other.slug)
    assert _updates(client, blog)["push"] == "poll"  # still every blog's mode
    pushmode.switch(None)
    assert _updates(client, blog)["push"] == "sse"


def test_in_poll_mode_a_readers_stream_answers_204_and_the_desks_keeps_streaming(live_url, blog, switch_back):
    stream = SSEClient(f"{live_url}/live/{blog.slug}/events")
    assert stream.status == 200 and stream.next().retry == 3000
    stream.close()
    pushmode.switch("poll", slug=blog.slug)
    try:
        stream = SSEClient(f"{live_url}/live/{blog.slug}/events")
        assert stream.status == 204 and stream.headers["x-push-mode"] == "poll"
        stream.close()
        desk = SSEClient(f"{live_url}/live/{blog.slug}/events?desk=1")
        assert desk.status == 200 and desk.next().retry == 20000
        desk.close()
    finally:
        pushmode.switch(None, slug=blog.slug)


def test_frames_published_to_nchan_carry_the_blogs_retry(blog, switch_back):
    message = {"seq": 7, "type": "entry.deleted", "entry": {"id": 1}}
    assert nchan.frame(message, pushmode.pace(blog.slug).retry_ms).startswith(b"retry: 3000\nid: 7\n")
    pushmode.switch("poll")
    assert pushmode.pace(blog.slug).retry_ms == 20000


def test_the_command_switches_and_reports(blog, capsys, switch_back):
    call_command("push_mode", "poll", "--blog", blog.slug)
    assert capsys.readouterr().out.startswith(f"{blog.slug}: poll (poll every 20000 ms")
    call_command("push_mode", "default", "--blog", blog.slug)
    assert pushmode.pace(blog.slug).mode == "sse"
    capsys.readouterr()
    call_command("push_mode")
    assert capsys.readouterr().out.startswith("*: sse")



@pytest.mark.browser
def test_the_reader_script_polls_at_the_servers_pace_when_moved_off_streams(
    live_url, page, blog, reporter, settings, switch_back
):
    """In poll mode the stream answers 204 (EventSource gives up) and the
    script polls; the first /updates answer says poll_ms=1000, and from then
    on it polls about every second (its own default is every 5 s, with
    jitter 4-6 s)."""
    from .factories import make_entry

    settings.LIVEBLOG_OVERLOAD_POLL_SECONDS = 1
    pushmode.switch("poll", slug=blog.slug)
    polls = []
    page.on("request", lambda request: polls.append(request) if "/updates?" in request.url else None)
    page.goto(f"{live_url}/live/{blog.slug}/")
    # The first poll comes at the script's own pace (4-6 s); then ~1 s each:
    # five polls within 12 s (at its own pace, at most three).
    for _ in range(24):
        if len(polls) >= 5:
            break
        page.wait_for_timeout(500)
    assert len(polls) >= 5, [p.url for p in polls]
    entry = make_entry(blog=blog, user=reporter, body="Sent to pollers.")
    page.locator(f"#entry-{entry.pk}").wait_for(timeout=3000)
