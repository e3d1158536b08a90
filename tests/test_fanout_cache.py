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
