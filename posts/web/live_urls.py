"""The live channel's HTTP side: SSE, the push service worker and opt-in."""

from django.urls import path

from posts.web import push_views, questions, sse

urlpatterns = [
    path("live/<slug:slug>/events", sse.live_events, name="live-events"),
    path("live/<slug:slug>/questions", questions.ask, name="question-send"),
    path("live/<slug:slug>/push/subscribe", push_views.subscribe, name="push-subscribe"),
    path("live/<slug:slug>/push/unsubscribe", push_views.unsubscribe, name="push-unsubscribe"),
    path("push/key", push_views.public_key, name="push-key"),
    path("sw.js", push_views.service_worker, name="service-worker"),
]
