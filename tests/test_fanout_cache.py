"""Fan-out's cache side: local caches move to the new seq; a configured CDN
is purged by the blog's surrogate key."""

from __future__ import annotations

from posts.domain.models import Event
from posts.web import caching
from tests.factories import make_entry

from .fanout_support import Recorder


def test_each_event_moves_the_local_cache_to_its_seq(blog, reporter, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_entry(blog=blog, user=reporter)
    latest = Event.objects.filter(blog=blog).order_by("-seq").first()
    assert caching.current_seq(blog.slug) == latest.seq == 2


def test_cdn_is_purged_by_surrogate_key_in_the_url(blog, reporter, settings, django_capture_on_commit_callbacks):
    cdn = Recorder()
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True  # the CDN's purge endpoint is local
    settings.LIVEBLOG_CDN_PURGE_URL = f"{cdn.url}/purge/{{key}}"
    settings.LIVEBLOG_CDN_PURGE_TOKEN = "cdn-secret"
    try:
        with django_capture_on_commit_callbacks(execute=True):
            make_entry(blog=blog, user=reporter)
        requests = cdn.wait_for(2)
    finally:
        cdn.close()
    assert sorted(r.path for r in requests) == sorted([f"/purge/{caching.surrogate_key(blog.slug)}", "/purge/blogs"])
    assert all(r.headers["authorization"] == "Bearer cdn-secret" for r in requests)


def test_cdn_is_purged_with_a_surrogate_key_header(blog, reporter, settings, django_capture_on_commit_callbacks):
    cdn = Recorder()
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True  # the CDN's purge endpoint is local
    settings.LIVEBLOG_CDN_PURGE_URL = f"{cdn.url}/purge"
    try:
        with django_capture_on_commit_callbacks(execute=True):
            make_entry(blog=blog, user=reporter)
        [request] = cdn.wait_for(1)
    finally:
        cdn.close()
    assert request.headers["surrogate-key"] == f"{caching.surrogate_key(blog.slug)} blogs"


def test_every_cache_node_is_purged_and_one_failing_node_makes_the_task_retry(settings):
    """Several purge URLs (one per cache node, as in deploy/cluster): each
    gets the purge even when one before it fails; then the failure is
    raised so the task retries."""
    import pytest
    import requests

    from posts.delivery import fanout

    node1, node2 = Recorder(), Recorder()
    try:
        settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True  # the cache nodes are local
        settings.LIVEBLOG_CDN_PURGE_URL = f"{node1.url}/purge, {node2.url}/purge"
        fanout.purge_cdn("night")
        assert [r.headers["surrogate-key"] for r in node1.wait_for(1) + node2.wait_for(1)] == [
            f"{caching.surrogate_key('night')} blogs"
        ] * 2
        settings.LIVEBLOG_CDN_PURGE_URL = f"http://127.0.0.1:1/purge {node2.url}/purge"
        with pytest.raises(requests.RequestException):
            fanout.purge_cdn("night")
        assert len(node2.wait_for(2)) == 2
    finally:
        node1.close()
        node2.close()
