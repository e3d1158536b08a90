"""RSS 2.0 and Atom 1.0 feeds of a blog (``django.contrib.syndication``).

The latest :data:`FEED_SIZE` published entries, newest first. Each item's id
is its permalink, which never changes; an edit after publication moves the
item's ``updated`` (Atom) and the feed's ``lastBuildDate``/``updated``.
Each carries the blog's language and every author of an item (RSS
``dc:creator``, Atom ``author``); a fact check leads the item's text. The
feeds are served through :func:`posts.web.caching.cached_read` (ETag,
Last-Modified = the blog's latest event, 304s). The JSON Feed lives in
:mod:`posts.views`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.feedgenerator import Enclosure
from django.utils.xmlutils import SimplerXMLGenerator

from posts.delivery.websub import HubAtomFeed, HubRssFeed
from posts.domain import fact_checks, selectors
from posts.domain.models import Blog, Entry
from posts.domain.rendering import plain_text
from posts.domain.serializers import absolute_url, share_file
from posts.web import fragments
from posts.web.caching import (
    FEED_CACHE_CONTROL,
    cached_read,
    public_blog_of,
    set_last_modified,
    surrogate_key,
)
from posts.web.structured_data import entry_headline
from posts.web.views import _blog_read, reader_view

FEED_SIZE = 50

DC_NS = "http://purl.org/dc/elements/1.1/"
# Media RSS (https://www.rssboard.org/media-rss): the photo with its size,
# alt text and credit, which an RSS enclosure cannot carry.
MEDIA_NS = "http://search.yahoo.com/mrss/"


class FragmentItems:
    """A feed generator that writes items made earlier (entry fragments,
    posts/web/fragments.py) instead of building each one."""

    item_xml: list[str] | None = None
    latest: datetime | None = None

    def write_items(self, handler):
        if self.item_xml is None:
            return super().write_items(handler)
        for xml in self.item_xml:
            handler.ignorableWhitespace(xml)  # written as is: it is our own escaped XML

    def latest_post_date(self):
        if self.item_xml is None:
            return super().latest_post_date()
        return self.latest or datetime.now(tz=UTC)


class RssWithAuthors(FragmentItems, HubRssFeed):
    """One ``dc:creator`` per author (Django writes one name at most), and
    the entry's photo as ``media:content``."""

    def rss_attributes(self):
        return {**super().rss_attributes(), "xmlns:dc": DC_NS, "xmlns:media": MEDIA_NS}

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        for name, _url in item["authors"]:
            handler.addQuickElement("dc:creator", name)
        photo = item.get("photo")
        if photo:
            handler.startElement("media:content", {
                "url": photo["url"], "type": photo["type"], "medium": "image", "fileSize": str(photo["size"]),
                "width": str(photo["width"]), "height": str(photo["height"]),
            })
            handler.addQuickElement("media:description", photo["alt"], {"type": "plain"})
            if photo["credit"]:
                handler.addQuickElement("media:credit", photo["credit"])
            handler.endElement("media:content")


class AtomWithAuthors(FragmentItems, HubAtomFeed):
    """One ``<author>`` per author, with its ``<uri>`` when known."""

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        for name, url in item["authors"]:
            handler.startElement("author", {})
            handler.addQuickElement("name", name)
            if url:
                handler.addQuickElement("uri", url)
            handler.endElement("author")


class LiveBlogRssFeed(Feed):
    feed_type = RssWithAuthors  # Rss201rev2Feed advertising the WebSub hub

    def __init__(self, entries: list[Entry] | None = None):
        super().__init__()
        self.entries = entries  # the items, when the caller has them (one entry's fragment)

    def get_feed(self, obj: Blog, request: HttpRequest):
        feedgen = super().get_feed(obj, request)
        # Feed.language is one value for every feed; each blog has its own.
        feedgen.feed["language"] = obj.language
        return feedgen

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
        return self.entries if self.entries is not None else selectors.feed_entries(blog=blog, limit=FEED_SIZE)

    def author_name(self, blog: Blog) -> str:
        # Atom wants an author for the feed or every entry: the publisher.
        return settings.LIVEBLOG_PUBLISHER_NAME

    def item_title(self, entry: Entry) -> str:
        # RSS has no way to say a title or description is text, and readers
        # render them as HTML: both are plain text, markup stripped.
        return plain_text(entry_headline(entry))

    def item_description(self, entry: Entry) -> str:
        summary = fact_checks.summary_text(entry)
        return f"{summary}\n\n{entry.body_text}" if summary else entry.body_text

    def item_link(self, entry: Entry) -> str:
        return absolute_url(entry.get_absolute_url())

    # No item_guid: the syndication framework uses the link, the permalink.
    item_guid_is_permalink = True

    def item_pubdate(self, entry: Entry):
        return entry.published_at

    def item_updateddate(self, entry: Entry):
        return entry.updated_at or entry.published_at

    def item_extra_kwargs(self, entry: Entry) -> dict:
        photo = None
        if entry.image_id:
            photo = {**share_file(entry.image), "alt": entry.image.alt, "credit": entry.image.credit}
        return {"authors": [(a.name, a.url) for a in entry.byline], "photo": photo}

    def item_enclosures(self, entry: Entry) -> list[Enclosure]:
        # RSS: one <enclosure> (its limit); Atom: <link rel="enclosure">.
        if not entry.image_id:
            return []
        photo = share_file(entry.image)
        return [Enclosure(photo["url"], str(photo["size"]), photo["type"])]

    def item_categories(self, entry: Entry) -> list[str]:
        categories = []
        if entry.key_event:
            categories.append("key event")
        if entry.kind != Entry.Kind.UPDATE:
            categories.append(entry.kind)
        return categories


class LiveBlogAtomFeed(LiveBlogRssFeed):
    feed_type = AtomWithAuthors  # Atom1Feed advertising the WebSub hub

    def feed_url(self, blog: Blog) -> str:
        return absolute_url(f"/live/{blog.slug}/feed.atom")

    def item_description(self, entry: Entry) -> str:
        # Atom marks it type="html": the fact check, then the entry's sanitized content.
        return fact_checks.summary_html(entry) + entry.body_html


def item_fragment(feed_class: type[LiveBlogRssFeed], blog: Blog, request: HttpRequest):
    """Builds one entry's ``<item>`` (``<entry>`` in Atom) as XML text."""

    def build(entry: Entry) -> str:
        out = StringIO()
        feed_class(entries=[entry]).get_feed(blog, request).write_items(
            SimplerXMLGenerator(out, "utf-8", short_empty_elements=True)
        )
        return out.getvalue()

    return build


def _feed_view(kind: str, feed_class: type[LiveBlogRssFeed]):
    def view(request: HttpRequest, slug: str) -> HttpResponse:
        read = _blog_read(kind, slug)

        def build() -> HttpResponse:
            # Feed.__call__ would look the blog up again and stream the XML
            # into the response in ~1,500 small writes; one string is faster.
            feed = feed_class(entries=[])
            blog = public_blog_of(read)
            if blog is None:
                raise Http404("No such live blog.")
            entries = selectors.feed_entries(blog=blog, limit=FEED_SIZE, light=True)
            feedgen = feed.get_feed(blog, request)
            feedgen.item_xml = fragments.entry_fragments(kind, entries, item_fragment(feed_class, blog, request))
            feedgen.latest = max((e.updated_at or e.published_at for e in entries), default=None)
            response = HttpResponse(feedgen.writeString("utf-8"), content_type=feedgen.content_type)
            return set_last_modified(response, selectors.blog_last_event_at(blog=blog))

        return cached_read(request, read, build, cache_control=FEED_CACHE_CONTROL,
                           surrogate_keys=[surrogate_key(slug)])

    view.__name__ = f"{kind}_feed"
    return reader_view(view)


rss_feed = _feed_view("rss", LiveBlogRssFeed)
atom_feed = _feed_view("atom", LiveBlogAtomFeed)
