"""In headless Chromium: a partner's page on another address (127.0.0.2)
embeds the widget with the copy-paste snippet, sees a new entry arrive live
and the iframe grow; the widget passes axe-core at both sizes; a social
embed loads nothing from its provider until the reader clicks."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from posts.domain import services
from posts.web.embed_views import snippet

from .a11y import assert_no_axe_violations
from .factories import make_entry

pytestmark = pytest.mark.browser

POLL_ONLY = "window.LIVEBLOG_TRANSPORT = 'poll'; window.LIVEBLOG_POLL_MS = 250;"
SIZES = [(1280, 900), (390, 844)]


class PartnerSite:
    """Another site: one page, served from 127.0.0.2 (another origin than
    our 127.0.0.1, not just another port)."""

    def __init__(self, html: str):
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.2:{self.server.server_address[1]}/article"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


FRAME = "[data-liveblog] iframe"


def _frame_height(page) -> float:
    return page.evaluate(f"() => document.querySelector('{FRAME}').getBoundingClientRect().height")


def test_a_partner_page_shows_the_blog_live_and_the_frame_fits_its_content(live_url, page, blog, reporter, settings):
    settings.LIVEBLOG_EMBED_ENTRIES = 2
    first = make_entry(blog=blog, user=reporter, body="Doors open at the count centre.")
    make_entry(blog=blog, user=reporter, body="Ballot boxes arrive.")
    partner = PartnerSite(
        "<!doctype html><html lang='en'><head><title>Partner news</title></head><body>"
        f"<h1>Partner news</h1>{snippet(blog.slug, title=blog.title)}<p id='after'>Below the widget</p></body></html>"
    )
    try:
        page.add_init_script(POLL_ONLY)
        page.goto(partner.url)
        frame = page.frame_locator(FRAME)
        frame.locator("article.entry").first.wait_for()
        # The loader sized the frame to the widget's content (not the snippet's 600 px).
        page.wait_for_function(f"() => document.querySelector('{FRAME}').style.height.endsWith('px')")
        page.wait_for_function(
            f"""() => {{
                const f = document.querySelector('{FRAME}');
                const inner = f.contentDocument;  // cross-origin: null
                return inner === null && Math.abs(f.getBoundingClientRect().height - parseFloat(f.style.height)) < 1;
            }}"""
        )
        before = _frame_height(page)
        content = frame.locator("body").evaluate("b => Math.ceil(b.getBoundingClientRect().height)")
        assert abs(before - content) <= 1

        # A message from anyone but our origin is ignored.
        page.evaluate("() => window.postMessage({type: 'liveblog:height', height: 5}, '*')")
        page.wait_for_timeout(300)
        assert _frame_height(page) == before

        fresh = make_entry(
            blog=blog, user=reporter, headline="Turnout record",
            body="Turnout is the highest since 1992.\n\n" + "The count goes on through the night. " * 20,
        )
        frame.locator(f"#entry-{fresh.pk}").wait_for()
        page.wait_for_function(f"() => document.querySelector('{FRAME}').getBoundingClientRect().height > {before + 40}")
        assert frame.locator("article.entry").first.get_attribute("id") == f"entry-{fresh.pk}"
        assert frame.locator("article.entry").count() == 2  # the widget keeps its latest N
        assert frame.locator(f"#entry-{first.pk}").count() == 0
        # Links leave the frame for the full blog.
        back = frame.locator(".embed-widget__more a")
        assert back.get_attribute("href") == f"{live_url}/live/{blog.slug}/"
    finally:
        partner.close()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_widget_passes_axe(live_url, page, blog, reporter, width, height):
    make_entry(blog=blog, user=reporter, headline="Polls close", body="Polls have closed.", key_event=True)
    make_entry(blog=blog, user=reporter, body="Counting starts at ten.")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_url}/live/{blog.slug}/embed/")
    page.locator("article.entry").first.wait_for()
    assert_no_axe_violations(page, f"widget at {width}x{height}")
    assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.fixture
def captured_video(blog, reporter, settings, tmp_path):
    """A published entry whose YouTube link was captured (thumbnail ours)."""
    from posts.delivery.embeds import store_thumbnail

    settings.MEDIA_ROOT = tmp_path
    url = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"
    entry = make_entry(blog=blog, user=reporter, body=f"Watch the declaration:\n\n{url}")
    path = tmp_path / "source.png"
    Image.new("RGB", (640, 360), (30, 60, 200)).save(path)
    name, width, height = store_thumbnail(entry.pk, path.read_bytes())
    services.entry_embeds_capture(entry_id=entry.pk, previews=[{
        "url": url, "provider": "youtube", "title": "The declaration, live", "author_name": "Newsroom TV",
        "frame_src": "https://www.youtube-nocookie.com/embed/aqz-KE-bpKQ?autoplay=1",
        "thumbnail": name, "thumbnail_width": width, "thumbnail_height": height,
    }])
    return entry


def test_nothing_third_party_loads_until_the_reader_clicks(live_url, page, blog, captured_video):
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.route("https://www.youtube-nocookie.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>player</title><p>player</p>"))
    page.goto(f"{live_url}/live/{blog.slug}/")
    card = page.locator(f"#entry-{captured_video.pk} figure.embed--captured")
    card.wait_for()
    assert "The declaration, live" in card.inner_text()
    page.wait_for_load_state("networkidle")
    assert card.locator("img.embed__thumb").evaluate("img => img.complete && img.naturalWidth") == 640
    assert requested and all(url.startswith(live_url) for url in requested), requested
    assert_no_axe_violations(page, "live page with a facade")

    card.get_by_role("button", name="Load the video from YouTube").click()
    player = page.locator(f"#entry-{captured_video.pk} iframe.embed__player")
    player.wait_for()
    assert player.get_attribute("src") == "https://www.youtube-nocookie.com/embed/aqz-KE-bpKQ?autoplay=1"
    page.wait_for_function("() => document.querySelector('iframe.embed__player').contentWindow !== null")
    page.wait_for_load_state("networkidle")
    third_party = [u for u in requested if not u.startswith(live_url)]
    assert third_party and all(u.startswith("https://www.youtube-nocookie.com/embed/") for u in third_party)
    # The provider's script is never put on our page.
    assert page.evaluate("() => [...document.scripts].every(s => !s.src || s.src.startsWith(location.origin))")


def test_the_desk_copies_the_embed_code(browser, live_url, blog, editor):
    from .test_desk_browser import desk_context

    context = desk_context(browser, live_url, editor, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(f"/desk/blogs/{blog.slug}/")
    button = page.get_by_role("button", name="Copy the embed code")
    button.click()
    page.wait_for_function("() => document.querySelector('[data-copy-status]').textContent.includes('Copied')")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == page.locator("#embed-snippet").input_value()
    assert f'data-liveblog="{blog.slug}"' in copied and f"{live_url}/embed.js" in copied
    assert_no_axe_violations(page, "desk with the embed code")
    context.close()
