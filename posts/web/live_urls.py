"""The live channel's HTTP side: SSE, the push service worker and opt-in."""

from django.urls import path

from posts.web import polls, push_views, questions, sse

urlpatterns = [
    path("live/<slug:slug>/events", sse.live_events, name="live-events"),
    path("live/<slug:slug>/questions", questions.ask, name="question-send"),
    path("live/<slug:slug>/push/subscribe", push_views.subscribe, name="push-subscribe"),
    path("live/<slug:slug>/push/unsubscribe", push_views.unsubscribe, name="push-unsubscribe"),
    path("live/<slug:slug>/polls/<int:poll_id>", polls.poll_tallies, name="poll-tallies"),
    path("live/<slug:slug>/polls/<int:poll_id>/result", polls.poll_result, name="poll-result"),
    path("live/<slug:slug>/polls/<int:poll_id>/vote", polls.poll_vote, name="poll-vote"),
    path("push/key", push_views.public_key, name="push-key"),
    path("sw.js", push_views.service_worker, name="service-worker"),
]
