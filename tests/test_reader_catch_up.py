"""The reader script catches up when its live connection opens.

In the production profile the push engine (Nchan) keeps no history, so an
event published between the page's render and the EventSource subscription
would otherwise wait for the next event (or a long poll interval). Here
the SSE endpoint is a stand-in that opens and sends nothing, as Nchan does
for a reader who subscribes after the event, and polling is slowed to a
minute: only the catch-up poll on ``open`` can bring the entry in.
"""

from __future__ import annotations

import pytest

from .factories import make_entry

pytestmark = pytest.mark.browser

SLOW_POLLING = "window.LIVEBLOG_POLL_MS = 60000;"
# A stream that opens (EventSource fires `open`) and then only keeps quiet.
SILENT_STREAM = "retry: 60000\n: live, no history\n\n"


def test_an_entry_published_before_the_subscription_is_shown_when_the_stream_opens(live_url, page, blog, reporter):
    make_entry(blog=blog, user=reporter, body="Doors open.")
    late = {}

    def render_then_publish(route):
        # The page is rendered at the current seq; then, before the
        # reader's script subscribes, a reporter publishes.
        response = route.fetch()
        late["html"] = response.text()
        late["entry"] = make_entry(blog=blog, user=reporter, body="Published in the gap.")
        route.fulfill(response=response)

    page.add_init_script(SLOW_POLLING)
    page.route(f"{live_url}/live/{blog.slug}/", render_then_publish)
    page.route(f"{live_url}/live/{blog.slug}/events*", lambda route: route.fulfill(
        status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, body=SILENT_STREAM))
    page.goto(f"{live_url}/live/{blog.slug}/")

    # Not in the page as rendered. (The DOM is no witness: the catch-up can
    # have run before this line, as it did once in CI.)
    assert f'id="entry-{late["entry"].pk}"' not in late["html"]
    assert 'id="entry-' in late["html"]
    page.locator(f"#entry-{late['entry'].pk}").wait_for(timeout=5000)
    assert "Published in the gap." in page.locator(f"#entry-{late['entry'].pk}").inner_text()
