"""The reporter desk, under /desk/. Blogs live under ``blogs/<slug>/`` so no
slug can shadow the desk's own pages."""

from django.urls import path

from . import entries, questions, script, views

app_name = "desk"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.DeskLoginView.as_view(), name="login"),
    path("logout/", views.DeskLogoutView.as_view(), name="logout"),
    path("new-blog/", views.blog_create, name="blog-create"),
    path("preview/", script.preview, name="preview"),
    path("blogs/<slug:slug>/", views.blog_desk, name="blog"),
    path("blogs/<slug:slug>/state/", script.desk_state, name="state"),
    path("blogs/<slug:slug>/older/", views.blog_desk_older, name="blog-older"),
    path("blogs/<slug:slug>/close/", views.blog_close, name="blog-close"),
    path("blogs/<slug:slug>/open/", views.blog_open, name="blog-open"),
    path("blogs/<slug:slug>/settings/", questions.blog_settings, name="blog-settings"),
    path("blogs/<slug:slug>/questions/<int:question_id>/answer/", questions.question_answer, name="question-answer"),
    path("blogs/<slug:slug>/questions/<int:question_id>/dismiss/", questions.question_dismiss, name="question-dismiss"),
    path("blogs/<slug:slug>/reader-count/", views.blog_reader_count, name="blog-reader-count"),
    path("blogs/<slug:slug>/team/", views.team_set, name="team-set"),
    path("blogs/<slug:slug>/team/<int:user_id>/remove/", views.team_remove, name="team-remove"),
    path("blogs/<slug:slug>/entries/", entries.entry_create, name="entry-create"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/edit/", entries.entry_edit, name="entry-edit"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/publish/", entries.entry_publish, name="entry-publish"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/submit/", entries.entry_submit, name="entry-submit"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/send-back/", entries.entry_return, name="entry-return"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/pin/", entries.entry_pin, name="entry-pin"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/delete/", entries.entry_delete, name="entry-delete"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/history/", entries.entry_history, name="entry-history"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/erase/", entries.entry_erase, name="entry-erase"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/poll/close/", entries.poll_close, name="poll-close"),
]
