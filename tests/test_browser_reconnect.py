"""Readers in headless Chromium lose their streams at the same instant (an
edge restarting: a TCP proxy in front of the test server drops every
connection) and come back spread out, each naming the last seq it applied,
with nothing missed (static/live/live.js, docs/events.md "Reconnecting
without a herd")."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from .factories import make_entry

pytestmark = pytest.mark.browser

READERS = 6


class CuttingProxy:
    """Forwards connections to ``port``; :meth:`cut` drops every open one."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        with self.lock:
            cut, self.sockets = self.sockets, []
        for sock in cut:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def proxy(live_url):
    proxy = CuttingProxy(urlsplit(live_url).port)
    yield proxy
    proxy.close()


def test_readers_cut_at_once_resume_spread_out_from_their_last_seq(browser, proxy, blog, reporter):
    base = f"http://127.0.0.1:{proxy.port}"
    streams: list[tuple[float, str]] = []  # (when, url) of every stream a page opened
    # One context per reader: Chromium holds six connections per host per
    # profile, and each reader keeps one open.
    contexts = [browser.new_context(viewport={"width": 390, "height": 844}) for _ in range(READERS)]
    try:
        pages = []
        for context in contexts:
            context.on("request", lambda r: r.resource_type == "eventsource" and streams.append((time.monotonic(), r.url)))
            # Polling only as slow as a hidden tab: what arrives after the cut
            # comes from the resumed streams (or their catch-up poll on open).
            context.add_init_script("window.LIVEBLOG_POLL_MS = 60000;")
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/live/{blog.slug}/")
            pages.append(page)
        first = make_entry(blog=blog, user=reporter, body="Before the cut.")
        for page in pages:
            page.locator(f"#entry-{first.pk}").wait_for()
        seq = int(pages[0].locator("main[data-seq]").get_attribute("data-seq"))
        # A stream that ends within 3 s of opening is a hand-over, resumed as
        # EventSource does: these have been open longer (a drop).
        time.sleep(3.5)
        opened = len(streams)
        cut_at = time.monotonic()
        proxy.cut()
        during = make_entry(blog=blog, user=reporter, body="Published while they were away.")
        for page in pages:
            page.locator(f"#entry-{during.pk}").wait_for()
        after = make_entry(blog=blog, user=reporter, body="And live again.")
        for page in pages:
            page.locator(f"#entry-{after.pk}").wait_for()
            assert page.locator(f"#entry-{during.pk}").count() == 1
    finally:
        for context in contexts:
            context.close()
    resumed = streams[opened:]
    assert len(resumed) >= READERS
    delays = [when - cut_at for when, _ in resumed[:READERS]]
    for _, url in resumed[:READERS]:
        # The last seq the page applied: the one before the cut, or the entry
        # published meanwhile if a poll brought it first.
        [named] = parse_qs(urlsplit(url).query)["last_event_id"]
        assert seq <= int(named) <= seq + 1
    # Spread over 0.5-1.5 x 3 s, not all at EventSource's one retry time.
    assert min(delays) >= 1.0
    assert max(delays) - min(delays) > 0.5, delays
