"""WebSub: every event pings the hub configured in settings with the blog's feeds."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from posts.delivery import websub
from tests.factories import make_entry

from .fanout_support import Recorder


@pytest.fixture
def hub(settings):
    server = Recorder(lambda rec: (204, 0))
    settings.LIVEBLOG_WEBSUB_HUB = f"{server.url}/hub"
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True  # the hub is local
    yield server
    server.close()


def test_each_event_pings_the_hub_with_every_feed_of_the_blog(blog, reporter, hub, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_entry(blog=blog, user=reporter)
    [ping] = hub.wait_for(1)
    form = parse_qs(ping.body.decode())
    assert ping.path == "/hub"
    assert form["hub.mode"] == ["publish"]
    assert sorted(form["hub.url"]) == sorted(websub.feed_urls(blog.slug))
    assert all(url.startswith("http") and f"/live/{blog.slug}/feed." in url for url in form["hub.url"])


def test_without_a_hub_nothing_is_pinged(blog, reporter, settings, django_capture_on_commit_callbacks):
    settings.LIVEBLOG_WEBSUB_HUB = ""
    server = Recorder()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            make_entry(blog=blog, user=reporter)
        assert server.requests == []
        assert websub.hub_url() == ""
    finally:
        server.close()


def test_a_failing_hub_raises_so_the_task_retries(settings):
    server = Recorder(lambda rec: (503, 0))
    settings.LIVEBLOG_WEBSUB_HUB = server.url
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    try:
        with pytest.raises(Exception, match="503"):
            websub.ping("any-blog")
    finally:
        server.close()


def test_feeds_advertise_the_hub(client, blog, settings):
    import feedparser

    settings.LIVEBLOG_WEBSUB_HUB = "https://hub.example.org/"
    rss = feedparser.parse(client.get(f"/live/{blog.slug}/feed.rss").content)
    atom = feedparser.parse(client.get(f"/live/{blog.slug}/feed.atom").content)
    for feed in (rss, atom):
        assert {"rel": "hub", "href": "https://hub.example.org/"}.items() <= {
            k: v for link in feed.feed.links if link.get("rel") == "hub" for k, v in link.items()
        }.items()
    json_feed = client.get(f"/live/{blog.slug}/feed.json").json()
    assert json_feed["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
