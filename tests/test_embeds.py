"""Social embeds: a link to a post or video is captured when its entry is
saved (a task, the guarded client, a timeout) into a facade with our own
copy of the thumbnail; a provider that cannot be reached leaves the link
card; captured text passes the text rule; a takedown takes it all away.

The providers are a local HTTP server (the guarded client reaches loopback
only with LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE)."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from posts.domain import services
from posts.domain.models import EmbedPreview, Entry, Event
from tests.factories import make_entry

YOUTUBE = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"
X_POST = "https://x.com/newsdesk/status/1790000000000000001"
CLIP = "https://clips.example/v/42"


def _png(size=(800, 450), color=(200, 30, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


class Provider:
    """A local oEmbed provider: ``answers[path] = (status, body, delay)``."""

    def __init__(self):
        self.requests: list[str] = []
        self.answers: dict[str, tuple[int, bytes, float]] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                provider.requests.append(self.path)
                status, body, delay = provider.answers.get(urlsplit(self.path).path, (404, b"", 0))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (the timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, path: str, data, *, status: int = 200, delay: float = 0) -> None:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        self.answers[path] = (status, body, delay)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(settings, tmp_path):
    server = Provider()
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    settings.LIVEBLOG_EMBED_TIMEOUT = 1
    settings.MEDIA_ROOT = tmp_path
    settings.LIVEBLOG_EMBED_PROVIDERS = {
        **settings.LIVEBLOG_EMBED_PROVIDERS,
        "youtube": {**settings.LIVEBLOG_EMBED_PROVIDERS["youtube"], "endpoint": f"{server.url}/youtube"},
        "x": {**settings.LIVEBLOG_EMBED_PROVIDERS["x"], "endpoint": f"{server.url}/x?lang=en"},
        "clips": {"label": "Clips", "hosts": ["clips.example"], "endpoint": f"{server.url}/clips",
                  "frame": "https://player.clips.example", "kind": "video"},
    }
    server.answer("/thumb.png", _png())
    server.answer("/youtube", {
        "type": "video", "version": "1.0", "title": "Count night, live", "author_name": "Newsroom TV",
        "thumbnail_url": f"{server.url}/thumb.png", "thumbnail_width": 480, "thumbnail_height": 360,
        "html": '<iframe src="https://www.youtube.com/embed/aqz-KE-bpKQ?feature=oembed"></iframe>',
    })
    server.answer("/x", {
        "type": "rich", "version": "1.0", "author_name": "News Desk",
        "html": '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Turnout is up &amp; rising'
                '\x07 <script>alert(1)</script><a href="https://t.co/x">pic.twitter.com/x</a></p>'
                '&mdash; News Desk (@newsdesk) <a href="https://x.com/newsdesk/status/1">May 1</a></blockquote>',
    })
    yield server
    server.close()


def _post(blog, reporter, body, capture):
    with capture(execute=True):
        entry = make_entry(blog=blog, user=reporter, body=body)
    entry.refresh_from_db()
    return entry


def test_a_video_link_becomes_a_facade_with_our_own_thumbnail(
    blog, reporter, provider, django_capture_on_commit_callbacks
):
    entry = _post(blog, reporter, f"Watch the count:\n\n{YOUTUBE}", django_capture_on_commit_callbacks)

    [asked] = [p for p in provider.requests if p.startswith("/youtube")]
    assert parse_qs(urlsplit(asked).query)["url"] == [YOUTUBE]
    assert parse_qs(urlsplit(asked).query)["format"] == ["json"]
    preview = EmbedPreview.objects.get(entry=entry)
    assert preview.title == "Count night, live"
    assert preview.thumbnail.name.startswith(f"embeds/{entry.pk}/")
    assert default_storage.exists(preview.thumbnail.name)
    with default_storage.open(preview.thumbnail.name) as stored:
        image = Image.open(stored)
        assert image.format == "JPEG" and image.size == (640, 360)  # re-encoded, shrunk to the box
    html = entry.body_html
    assert "embed--captured" in html and "Count night, live" in html
    assert f'src="/media/{preview.thumbnail.name}"' in html
    assert 'data-embed-frame="https://www.youtube-nocookie.com/embed/aqz-KE-bpKQ?autoplay=1"' in html
    assert provider.url not in html and "youtube.com/embed" not in html
    # Readers got it as an edit of the entry, without a version bump or an "Updated" marker.
    latest = Event.objects.filter(blog=blog).order_by("-seq").first()
    assert latest.type == Event.Type.ENTRY_UPDATED and "embed--captured" in latest.payload["entry"]["body_html"]
    assert entry.version == 1 and entry.updated_at is None


def test_a_post_keeps_only_its_words_through_the_text_rule(
    blog, reporter, provider, django_capture_on_commit_callbacks
):
    entry = _post(blog, reporter, X_POST, django_capture_on_commit_callbacks)

    preview = EmbedPreview.objects.get(entry=entry)
    assert preview.text == "Turnout is up & rising pic.twitter.com/x"  # BEL stripped, markup gone
    assert preview.author_name == "News Desk"
    assert "<script" not in entry.body_html and "\x07" not in entry.body_html
    assert "Turnout is up &amp; rising" in entry.body_html
    assert 'data-embed-frame="https://platform.twitter.com/embed/Tweet.html?id=1790000000000000001&amp;dnt=true"' in entry.body_html
    [asked] = [p for p in provider.requests if p.startswith("/x")]
    assert parse_qs(urlsplit(asked).query)["omit_script"] == ["true"]


def test_a_configured_provider_embeds_its_player_only_from_its_frame_origin(
    blog, reporter, provider, django_capture_on_commit_callbacks
):
    provider.answer("/clips", {"type": "video", "title": "Clip 42",
                               "html": '<iframe src="https://player.clips.example/42?x=1&amp;y=2"></iframe>'})
    entry = _post(blog, reporter, CLIP, django_capture_on_commit_callbacks)
    assert 'data-embed-frame="https://player.clips.example/42?x=1&amp;y=2"' in entry.body_html

    provider.answer("/clips", {"type": "video", "title": "Clip 43",
                               "html": '<iframe src="https://evil.example/43"></iframe>'})
    other = _post(blog, reporter, "https://clips.example/v/43", django_capture_on_commit_callbacks)
    assert "Clip 43" in other.body_html and "evil.example" not in other.body_html
    assert "data-embed-frame" not in other.body_html  # a facade with a link, no player


def test_text_the_rule_refuses_leaves_the_link_card(blog, reporter, provider, django_capture_on_commit_callbacks):
    provider.answer("/youtube", {"type": "video", "title": "Bad\x00title"})
    entry = _post(blog, reporter, YOUTUBE, django_capture_on_commit_callbacks)
    assert not EmbedPreview.objects.filter(entry=entry).exists()
    assert "embed--captured" not in entry.body_html and "Watch on YouTube" in entry.body_html


@pytest.mark.parametrize("failure", ["server error", "not json", "loopback refused"])
def test_a_provider_that_cannot_be_reached_leaves_the_link_card(
    failure, blog, reporter, provider, settings, django_capture_on_commit_callbacks
):
    if failure == "server error":
        provider.answer("/youtube", {"error": "down"}, status=503)
    elif failure == "not json":
        provider.answer("/youtube", b"<html>maintenance</html>")
    else:
        settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False  # the guarded client refuses 127.0.0.1
    entry = _post(blog, reporter, YOUTUBE, django_capture_on_commit_callbacks)
    assert not EmbedPreview.objects.filter(entry=entry).exists()
    assert 'class="embed embed--youtube"' in entry.body_html and "Watch on YouTube" in entry.body_html
    assert entry.is_published
    if failure == "loopback refused":
        assert not [p for p in provider.requests if p.startswith("/youtube")]


def test_a_slow_provider_is_given_up_after_the_timeout(blog, reporter, provider, django_capture_on_commit_callbacks):
    provider.answer("/youtube", {"title": "Too late"}, delay=4)
    started = time.monotonic()
    entry = _post(blog, reporter, YOUTUBE, django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 3  # LIVEBLOG_EMBED_TIMEOUT is 1 s here
    assert "Too late" not in entry.body_html and "Watch on YouTube" in entry.body_html


def test_a_thumbnail_that_is_not_an_image_is_left_out(blog, reporter, provider, django_capture_on_commit_callbacks):
    provider.answer("/thumb.png", b"\x89PNG\r\n\x1a\n not really")
    entry = _post(blog, reporter, YOUTUBE, django_capture_on_commit_callbacks)
    preview = EmbedPreview.objects.get(entry=entry)
    assert preview.title == "Count night, live" and not preview.thumbnail
    assert "<img" not in entry.body_html


def test_an_edit_keeps_the_facade_without_asking_again(blog, reporter, provider, django_capture_on_commit_callbacks):
    entry = _post(blog, reporter, f"Watch:\n\n{YOUTUBE}", django_capture_on_commit_callbacks)
    asked = len(provider.requests)
    with django_capture_on_commit_callbacks(execute=True):
        edited = services.entry_edit(entry=entry, user=reporter, version=entry.version, body=f"Watch now:\n\n{YOUTUBE}")
    assert len(provider.requests) == asked
    assert "embed--captured" in edited.body_html and "Watch now" in edited.body_html


def test_a_link_in_markdown_alone_on_its_line_is_captured_and_one_taken_out_is_dropped(
    blog, reporter, provider, django_capture_on_commit_callbacks
):
    entry = _post(blog, reporter, f"Watch:\n\n[the count]({YOUTUBE})", django_capture_on_commit_callbacks)
    name = EmbedPreview.objects.get(entry=entry).thumbnail.name
    assert "embed--captured" in entry.body_html
    with django_capture_on_commit_callbacks(execute=True):
        edited = services.entry_edit(entry=entry, user=reporter, version=entry.version, body="No video after all.")
    assert not EmbedPreview.objects.filter(entry=entry).exists() and not default_storage.exists(name)
    assert "embed" not in edited.body_html


def test_a_takedown_removes_the_capture_and_its_thumbnail(blog, reporter, provider, django_capture_on_commit_callbacks):
    entry = _post(blog, reporter, YOUTUBE, django_capture_on_commit_callbacks)
    name = EmbedPreview.objects.get(entry=entry).thumbnail.name
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_delete(entry=entry, user=reporter)
    assert not EmbedPreview.objects.filter(entry=entry).exists()
    assert not default_storage.exists(name)


def test_a_capture_that_arrives_after_the_takedown_is_dropped(
    blog, reporter, provider, settings, django_capture_on_commit_callbacks
):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False  # no capture at save
    entry = _post(blog, reporter, YOUTUBE, django_capture_on_commit_callbacks)
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    from posts.delivery import embeds as capturing

    found = capturing.capture(entry.pk)
    assert found and default_storage.exists(found[0]["thumbnail"])
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_delete(entry=entry, user=reporter)
    seq = blog.events.order_by("-seq").first().seq
    with django_capture_on_commit_callbacks(execute=True):
        services.entry_embeds_capture(entry_id=entry.pk, previews=found)
    assert not EmbedPreview.objects.filter(entry=entry).exists()
    assert not default_storage.exists(found[0]["thumbnail"])
    assert blog.events.order_by("-seq").first().seq == seq  # nothing told to readers
    assert Entry.objects.get(pk=entry.pk).status == Entry.Status.DELETED


def test_a_capture_cannot_point_at_another_entrys_files(blog, reporter, provider):
    entry = make_entry(blog=blog, user=reporter, body=YOUTUBE)
    services.entry_embeds_capture(entry_id=entry.pk, previews=[{
        "url": YOUTUBE, "provider": "youtube", "title": "x", "thumbnail": "embeds/999/secret.jpg",
    }])
    assert not EmbedPreview.objects.filter(entry=entry).exists()


def test_pages_allow_the_players_of_the_providers_and_nothing_else(client, blog, reporter):
    make_entry(blog=blog, user=reporter, body=YOUTUBE)
    csp = client.get(f"/live/{blog.slug}/")["Content-Security-Policy"]
    frame_src = next(d for d in csp.split(";") if d.strip().startswith("frame-src")).split()[1:]
    assert sorted(frame_src) == ["https://embed.bsky.app", "https://platform.twitter.com", "https://www.youtube-nocookie.com"]
    assert "frame-ancestors 'none'" in csp


def test_a_real_worker_captures_and_stores_through_both_tasks(transactional_db, editor, reporter, provider, settings,
                                                             tmp_path):
    """The production profile: capture_embeds_task and store_embeds_task on
    a Celery worker (a subprocess, the test broker), the entry saved here."""
    from tests.factories import make_blog

    from .fanout_support import celery_worker, purge_test_broker, real_broker, wait_until

    provider.answer("/clips", {"type": "video", "title": "Clip from the worker",
                               "thumbnail_url": f"{provider.url}/thumb.png"})
    clips = settings.LIVEBLOG_EMBED_PROVIDERS["clips"]
    blog = make_blog(editor=editor)
    purge_test_broker()
    try:
        with real_broker(), celery_worker(
            "embeds", beat=False, MEDIA_ROOT=str(tmp_path), LIVEBLOG_OEMBED_PROVIDERS=json.dumps({"clips": clips}),
        ) as worker:
            entry = make_entry(blog=blog, user=reporter, body=CLIP)
            assert wait_until(lambda: EmbedPreview.objects.filter(entry=entry).exists(), timeout=30), (
                worker.log_path.read_text()[-3000:]
            )
    finally:
        purge_test_broker()
    entry.refresh_from_db()
    preview = EmbedPreview.objects.get(entry=entry)
    assert "Clip from the worker" in entry.body_html
    assert (tmp_path / preview.thumbnail.name).is_file()
