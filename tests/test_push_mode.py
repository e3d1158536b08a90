"""Overload control: the server sets readers' pace (/updates' poll_ms and
push, SSE's retry:) and an operator moves one blog's readers, or every
blog's, from streams to polling (posts/delivery/pushmode.py)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from posts.delivery import nchan, overload, pushmode
from tests.factories import make_blog

from .fanout_support import Recorder, SSEClient


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



def test_a_stream_open_when_readers_are_moved_to_polling_is_told_so_and_ends(live_url, blog, settings, switch_back):
    settings.LIVEBLOG_SSE_HEARTBEAT_SECONDS = 0.3
    stream = SSEClient(f"{live_url}/live/{blog.slug}/events")
    assert stream.status == 200 and stream.next().retry == 3000
    desk = SSEClient(f"{live_url}/live/{blog.slug}/events?desk=1")
    assert desk.status == 200 and desk.next().retry == 3000
    pushmode.switch("poll", slug=blog.slug)
    frames = [stream.next() for _ in range(3)]
    pace = next(f for f in frames if f is not None and f.event == "pace")
    assert pace.id is None and pace.retry == 20000  # a reader's resume point stays its last seq
    assert json.loads(pace.data) == {"push": "poll", "poll_ms": 20000}
    assert stream.next() is None  # and the stream ends
    assert desk.next().comments == ["heartbeat"]  # the desk keeps streaming
    stream.close()
    desk.close()


def test_the_switch_tells_nchans_readers_of_each_live_blog(blog, editor, settings, switch_back):
    """Through Nchan's publisher (a local HTTP server standing in): one
    ``pace`` frame per live blog, in the blog's own mode."""
    other = make_blog(editor=editor, slug="the-other-night")
    nchan_server = Recorder()
    try:
        settings.LIVEBLOG_NCHAN_PUBLISH_URL = f"{nchan_server.url}/pub"
        pushmode.switch("sse", slug=other.slug)  # kept on streams whatever every blog's mode
        assert sorted(overload.readers_switch(mode="poll")) == sorted([blog.slug, other.slug])
        frames = {r.path: r.body for r in nchan_server.wait_for(2)}
        assert frames[f"/pub/{blog.slug}"] == b'retry: 20000\nevent: pace\ndata: {"push":"poll","poll_ms":20000}\n'
        assert frames[f"/pub/{other.slug}"] == b'retry: 3000\nevent: pace\ndata: {"push":"sse","poll_ms":5000}\n'
    finally:
        pushmode.switch(None, slug=other.slug)
        nchan_server.close()


@pytest.fixture
def admin_client_for(client, editor):
    editor.is_staff = True
    editor.is_superuser = True
    editor.save()
    client.force_login(editor)
    return client


def test_the_admin_moves_selected_blogs_and_every_blog(admin_client_for, blog, editor, switch_back):
    other = make_blog(editor=editor, slug="the-other-night")
    try:
        listing = admin_client_for.get("/admin/posts/blog/").content.decode()
        assert "Readers: streams or polling" in listing and "streams" in listing
        response = admin_client_for.post(
            "/admin/posts/blog/", {"action": "readers_to_polling", "_selected_action": [blog.pk]}, follow=True
        )
        assert "now poll" in response.content.decode()
        assert (pushmode.pace(blog.slug).mode, pushmode.pace(other.slug).mode) == ("poll", "sse")
        assert "polling every 20 s" in admin_client_for.get("/admin/posts/blog/").content.decode()

        page = admin_client_for.get("/admin/posts/blog/readers/")
        assert page.status_code == 200 and "live streams" in page.content.decode()
        admin_client_for.post("/admin/posts/blog/readers/", {"mode": "poll"})
        assert pushmode.pace(other.slug).mode == "poll"
        assert "polling every 20000 ms" in admin_client_for.get("/admin/posts/blog/readers/").content.decode()
        admin_client_for.post("/admin/posts/blog/readers/", {"mode": "default"})
        admin_client_for.post("/admin/posts/blog/", {"action": "readers_to_default", "_selected_action": [blog.pk]})
        assert (pushmode.pace(blog.slug).mode, pushmode.pace(other.slug).mode) == ("sse", "sse")
        assert admin_client_for.post("/admin/posts/blog/readers/", {"mode": "sideways"}).status_code == 302
        assert pushmode.pace(blog.slug).mode == "sse"
    finally:
        pushmode.switch(None, slug=other.slug)


def test_the_readers_switch_is_for_people_who_may_change_blogs(client, reporter):
    reporter.is_staff = True
    reporter.save()
    client.force_login(reporter)
    assert client.post("/admin/posts/blog/readers/", {"mode": "poll"}).status_code == 403
    assert pushmode.pace("").mode == "sse"


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


@pytest.mark.browser
def test_a_streaming_page_moved_to_polling_polls_and_comes_back_to_streams(
    live_url, page, blog, reporter, settings, switch_back
):
    """The page streams; the switch's pace frame moves it to polling at the
    server's pace; switched back, a poll's "push": "sse" opens a stream."""
    from .factories import make_entry

    settings.LIVEBLOG_SSE_HEARTBEAT_SECONDS = 0.5
    settings.LIVEBLOG_OVERLOAD_POLL_SECONDS = 1
    streams, polls = [], []
    page.on("request", lambda r: streams.append(r) if "/events" in r.url else polls.append(r) if "/updates?" in r.url else None)
    page.goto(f"{live_url}/live/{blog.slug}/")
    page.wait_for_function("() => document.querySelector('main') !== null")
    for _ in range(20):  # the stream opened and its catch-up polls ran (one at once, one 2.5 s later)
        if streams and len(polls) >= 2:
            break
        page.wait_for_timeout(250)
    assert len(streams) == 1
    pushmode.switch("poll", slug=blog.slug)
    before = len(polls)
    for _ in range(24):  # ~1 s apart once moved: at least four more within 6 s
        if len(polls) >= before + 4:
            break
        page.wait_for_timeout(250)
    assert len(polls) >= before + 4, len(polls) - before
    entry = make_entry(blog=blog, user=reporter, body="Sent to pollers.")
    page.locator(f"#entry-{entry.pk}").wait_for(timeout=4000)
    pushmode.switch(None, slug=blog.slug)
    for _ in range(24):
        if len(streams) >= 2:
            break
        page.wait_for_timeout(250)
    assert len(streams) == 2
