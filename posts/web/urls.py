"""Reader pages and feeds."""

from django.conf import settings
from django.urls import path, re_path

from posts.web import embed_views, feeds, media_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("live/<slug:slug>/", views.live_page, name="live-page"),
    path("live/<slug:slug>/entries/<int:entry_id>/", views.entry_permalink, name="entry-permalink"),
    path("live/<slug:slug>/feed.rss", feeds.rss_feed, name="feed-rss"),
    path("live/<slug:slug>/feed.atom", feeds.atom_feed, name="feed-atom"),
    path("live/<slug:slug>/feed.json", views.json_feed, name="feed-json"),
    path("live/<slug:slug>/embed/", embed_views.embed_page, name="embed-page"),
    path("oembed", embed_views.oembed, name="oembed"),
    path("embed.js", embed_views.widget_script, name="widget-script"),
]

if settings.MEDIA_URL.startswith("/"):
    # Captured embed thumbnails (content-addressed names) from the media folder;
    # the production profile's nginx may serve MEDIA_ROOT itself.
    urlpatterns.append(
        path(f"{settings.MEDIA_URL.strip('/')}/embeds/<path:path>", embed_views.embed_media, name="embed-media")
    )
# The embedded default serves photos itself (a local MEDIA_URL path); with a
# store of its own (an absolute MEDIA_URL, S3) nothing here is needed.
if settings.MEDIA_URL.startswith("/"):
    urlpatterns.append(
        re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<name>.+)$", media_views.media_file, name="media-file")
    )
