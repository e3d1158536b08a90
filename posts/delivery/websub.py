"""WebSub (https://www.w3.org/TR/websub/): the feeds advertise
``LIVEBLOG_WEBSUB_HUB`` (``<link rel="hub">``) and each event pings it.

The ping is the de-facto publisher notification hubs accept (Google's and
Superfeedr's): ``POST hub`` with form fields ``hub.mode=publish`` and one
``hub.url`` per feed of the blog. It runs as its own retried task, so a
slow hub never delays readers, through :mod:`.outbound` like every call out.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from . import outbound

FEED_SUFFIXES = ("feed.rss", "feed.atom", "feed.json")


def hub_url() -> str:
    """The hub feeds should advertise, or "" for none."""
    return settings.LIVEBLOG_WEBSUB_HUB


def feed_urls(slug: str) -> list[str]:
    return [f"{settings.LIVEBLOG_SITE_URL}/live/{slug}/{suffix}" for suffix in FEED_SUFFIXES]


def ping(slug: str) -> None:
    """Tell the hub the blog's feeds changed; raises on failure (retried)."""
    hub = hub_url()
    if not hub:
        return
    data = [("hub.mode", "publish")] + [("hub.url", url) for url in feed_urls(slug)]
    response = outbound.session().post(hub, data=data, timeout=10, headers={"User-Agent": "liveblog-websub"})
    outbound.raise_for_status(response)


# --- Discovery: the feeds advertise the hub -------------------------------------------
# Used by posts/feeds.py (RSS, Atom) and posts/views.py (JSON Feed "hubs").


class HubRssFeed(Rss201rev2Feed):
    """RSS 2.0 with ``<atom:link rel="hub">`` when a hub is configured."""

    def add_root_elements(self, handler):
        super().add_root_elements(handler)
        if hub_url():
            handler.addQuickElement("atom:link", None, {"rel": "hub", "href": hub_url()})


class HubAtomFeed(Atom1Feed):
    """Atom 1.0 with ``<link rel="hub">`` when a hub is configured."""

    def add_root_elements(self, handler):
        super().add_root_elements(handler)
        if hub_url():
            handler.addQuickElement("link", "", {"rel": "hub", "href": hub_url()})


def json_feed_hubs() -> list[dict]:
    """The JSON Feed 1.1 ``hubs`` value (empty without a hub)."""
    return [{"type": "WebSub", "url": hub_url()}] if hub_url() else []
