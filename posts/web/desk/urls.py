"""The reporter desk, under /desk/. Blogs live under ``blogs/<slug>/`` so no
slug can shadow the desk's own pages."""

from django.urls import path

from . import views

app_name = "desk"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.DeskLoginView.as_view(), name="login"),
    path("logout/", views.DeskLogoutView.as_view(), name="logout"),
    path("new-blog/", views.blog_create, name="blog-create"),
    path("preview/", views.preview, name="preview"),
    path("blogs/<slug:slug>/", views.blog_desk, name="blog"),
    path("blogs/<slug:slug>/state/", views.desk_state, name="state"),
    path("blogs/<slug:slug>/close/", views.blog_close, name="blog-close"),
    path("blogs/<slug:slug>/open/", views.blog_open, name="blog-open"),
    path("blogs/<slug:slug>/team/", views.team_set, name="team-set"),
    path("blogs/<slug:slug>/team/<int:user_id>/remove/", views.team_remove, name="team-remove"),
    path("blogs/<slug:slug>/entries/", views.entry_create, name="entry-create"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/edit/", views.entry_edit, name="entry-edit"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/publish/", views.entry_publish, name="entry-publish"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/submit/", views.entry_submit, name="entry-submit"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/pin/", views.entry_pin, name="entry-pin"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/delete/", views.entry_delete, name="entry-delete"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/history/", views.entry_history, name="entry-history"),
    path("blogs/<slug:slug>/entries/<int:entry_id>/erase/", views.entry_erase, name="entry-erase"),
]
