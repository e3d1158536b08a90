"""Reader pages and feeds."""

from django.urls import path

from posts.web import feeds, views

urlpatterns = [
    path("", views.home, name="home"),
    path("live/<slug:slug>/", views.live_page, name="live-page"),
    path("live/<slug:slug>/entries/<int:entry_id>/", views.entry_permalink, name="entry-permalink"),
    path("live/<slug:slug>/feed.rss", feeds.rss_feed, name="feed-rss"),
    path("live/<slug:slug>/feed.atom", feeds.atom_feed, name="feed-atom"),
    path("live/<slug:slug>/feed.json", views.json_feed, name="feed-json"),
]
