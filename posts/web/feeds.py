"""RSS 2.0 and Atom 1.0 feeds of a blog (``django.contrib.syndication``).

The latest :data:`FEED_SIZE` published entries, newest first. Each item's id
is its permalink, which never changes; an edit after publication moves the
item's ``updated`` (Atom) and the feed's ``lastBuildDate``/``updated``. The
feeds are served through :func:`posts.caching.cached_read` (ETag,
Last-Modified = the blog's latest event, 304s). The JSON Feed lives in
:mod:`posts.views`.
"""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest, HttpResponse

from posts.delivery.websub import HubAtomFeed, HubRssFeed
from posts.domain import selectors
from posts.domain.models import Blog, Entry
from posts.domain.rendering import plain_text
from posts.domain.serializers import absolute_url
from posts.web.caching import FEED_CACHE_CONTROL, cached_read, set_last_modified, surrogate_key
from posts.web.views import _blog_read, _entry_headline, reader_view

FEED_SIZE = 50


class LiveBlogRssFeed(Feed):
    feed_type = HubRssFeed  # Rss201rev2Feed advertising the WebSub hub
    language = "en-gb"

    def get_object(self, request: HttpRequest, slug: str) -> Blog:
        blog = selectors.public_blog(slug)
        if blog is None:
            raise Http404("No such live blog.")
        return blog

    def title(self, blog: Blog) -> str:
        return plain_text(blog.title)

    def link(self, blog: Blog) -> str:
        return absolute_url(blog.get_absolute_url())

    def feed_url(self, blog: Blog) -> str:
        return absolute_url(f"/live/{blog.slug}/feed.rss")

    def description(self, blog: Blog) -> str:
        return plain_text(blog.standfirst_html) or plain_text(blog.title)

    subtitle = description

    def items(self, blog: Blog) -> list[Entry]:
        return selectors.feed_entries(blog=blog, limit=FEED_SIZE)

    def item_title(self, entry: Entry) -> str:
        # RSS has no way to say a title or description is text, and readers
        # render them as HTML: both are plain text, markup stripped.
        return plain_text(_entry_headline(entry))

    def item_description(self, entry: Entry) -> str:
        return entry.body_text

    def item_link(self, entry: Entry) -> str:
        return absolute_url(entry.get_absolute_url())

    # No item_guid: the syndication framework uses the link, the permalink.
    item_guid_is_permalink = True

    def item_pubdate(self, entry: Entry):
        return entry.published_at

    def item_updateddate(self, entry: Entry):
        return entry.updated_at or entry.published_at

    def item_author_name(self, entry: Entry) -> str:
        return ", ".join(a.name for a in entry.byline)

    def item_categories(self, entry: Entry) -> list[str]:
        categories = []
        if entry.key_event:
            categories.append("key event")
        if entry.kind != Entry.Kind.UPDATE:
            categories.append(entry.kind)
        return categories


class LiveBlogAtomFeed(LiveBlogRssFeed):
    feed_type = HubAtomFeed  # Atom1Feed advertising the WebSub hub

    def feed_url(self, blog: Blog) -> str:
        return absolute_url(f"/live/{blog.slug}/feed.atom")

    def item_description(self, entry: Entry) -> str:
        return entry.body_html  # Atom marks it type="html": the entry's content, sanitized


def _feed_view(kind: str, feed: Feed):
    def view(request: HttpRequest, slug: str) -> HttpResponse:
        read = _blog_read(kind, slug)

        def build() -> HttpResponse:
            # Feed.__call__ would look the blog up again and stream the XML
            # into the response in ~1,500 small writes; one string is faster.
            blog = feed.get_object(request, slug)
            feedgen = feed.get_feed(blog, request)
            response = HttpResponse(feedgen.writeString("utf-8"), content_type=feedgen.content_type)
            return set_last_modified(response, selectors.blog_last_event_at(blog=blog))

        return cached_read(request, read, build, cache_control=FEED_CACHE_CONTROL,
                           surrogate_keys=[surrogate_key(slug)])

    view.__name__ = f"{kind}_feed"
    return reader_view(view)


rss_feed = _feed_view("rss", LiveBlogRssFeed())
atom_feed = _feed_view("atom", LiveBlogAtomFeed())
