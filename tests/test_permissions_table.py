"""The permissions table (posts/domain/permissions.py) holds on every path:
each role tries each action through the API, the desk and the admin, and
the action happens exactly when the table allows it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from posts.domain import services
from posts.domain.errors import NotAllowed
from posts.domain.models import Blog, Entry, Event, Membership, Role, WebhookPartner
from posts.domain.permissions import TABLE, Action

from .factories import AuthorFactory, UserFactory, make_entry

JSON = {"HTTP_ACCEPT": "application/json"}
ROLES = [Role.EDITOR, Role.REPORTER, Role.CONTRIBUTOR]


@pytest.fixture
def actor(request, db):
    """A staff member with every admin model permission, so only the
    services' rules (the table) decide what they may do."""
    role = request.param
    user = AuthorFactory(role=role, user__username=f"actor-{role}").user
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="posts"))
    return user


@pytest.fixture
def submitted(blog):
    """A contributor's draft in the approval queue."""
    author = AuthorFactory(role=Role.CONTRIBUTOR, user__username="queue-con").user
    return make_entry(blog=blog, user=author, body="From the stringer", status="draft", submit=True)


def _api(client, user):
    _, key = services.token_create(user=user)
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _admin_entry(client, blog, **fields):
    data = {"blog": blog.pk, "kind": "update", "headline": "", "body": "From the admin", "status": "draft",
            "revisions-TOTAL_FORMS": 0, "revisions-INITIAL_FORMS": 0, **fields}
    return client.post("/admin/posts/entry/add/", data)


def _refused(response) -> None:
    assert response.status_code < 500, response.content[:500]


# Each driver does one action by one path and returns whether it took effect.


def draft_api(client, user, blog, **_):
    r = client.post(f"/api/blogs/{blog.slug}/entries", {"body": "A draft", "status": "draft"},
                    content_type="application/json", **_api(client, user))
    _refused(r)
    return Entry.objects.filter(body="A draft").exists()


def draft_desk(client, user, blog, **_):
    client.force_login(user)
    r = client.post(reverse("desk:entry-create", kwargs={"slug": blog.slug}),
                    {"body": "A draft", "action": "draft"}, **JSON)
    _refused(r)
    return Entry.objects.filter(body="A draft").exists()


def draft_admin(client, user, blog, **_):
    client.force_login(user)
    _refused(_admin_entry(client, blog, body="A draft"))
    return Entry.objects.filter(body="A draft").exists()


def publish_api(client, user, blog, **_):
    r = client.post(f"/api/blogs/{blog.slug}/entries", {"body": "Live now"},
                    content_type="application/json", **_api(client, user))
    _refused(r)
    return Entry.objects.filter(body="Live now", status="published").exists()


def publish_desk(client, user, blog, **_):
    client.force_login(user)
    r = client.post(reverse("desk:entry-create", kwargs={"slug": blog.slug}),
                    {"body": "Live now", "action": "publish"}, **JSON)
    _refused(r)
    return Entry.objects.filter(body="Live now", status="published").exists()


def publish_admin(client, user, blog, **_):
    client.force_login(user)
    _refused(_admin_entry(client, blog, body="Live now", status="published"))
    return Entry.objects.filter(body="Live now", status="published").exists()


def approve_api(client, user, blog, submitted, **_):
    r = client.patch(f"/api/blogs/{blog.slug}/entries/{submitted.pk}",
                     {"version": submitted.version, "status": "published"},
                     content_type="application/json", **_api(client, user))
    _refused(r)
    return Entry.objects.get(pk=submitted.pk).is_published


def approve_desk(client, user, blog, submitted, **_):
    client.force_login(user)
    r = client.post(reverse("desk:entry-publish", kwargs={"slug": blog.slug, "entry_id": submitted.pk}), **JSON)
    _refused(r)
    return Entry.objects.get(pk=submitted.pk).is_published


def approve_admin(client, user, blog, submitted, **_):
    client.force_login(user)
    r = client.post("/admin/posts/entry/", {"action": "approve_selected", "_selected_action": [submitted.pk]})
    _refused(r)
    return Entry.objects.get(pk=submitted.pk).is_published


def _closed(blog) -> bool:
    blog.refresh_from_db()
    return blog.is_closed


def close_api(client, user, blog, **_):
    r = client.post(f"/api/blogs/{blog.slug}/close", {"body": "That's all"},
                    content_type="application/json", **_api(client, user))
    _refused(r)
    return _closed(blog)


def close_desk(client, user, blog, **_):
    client.force_login(user)
    r = client.post(reverse("desk:blog-close", kwargs={"slug": blog.slug}),
                    {"close_body": "That's all", "close_headline": ""})
    _refused(r)
    return _closed(blog)


def close_admin(client, user, blog, **_):
    client.force_login(user)
    _refused(_admin_entry(client, blog, body="That's all", kind="closing", status="published"))
    return _closed(blog)


def manage_blog_api(client, user, blog, **_):
    r = client.patch(f"/api/blogs/{blog.slug}", {"title": "Renamed"},
                     content_type="application/json", **_api(client, user))
    _refused(r)
    return Blog.objects.get(pk=blog.pk).title == "Renamed"


def manage_blog_desk(client, user, blog, **_):
    client.force_login(user)
    r = client.post(reverse("desk:blog-create"), {"title": "A new blog", "status": "draft"})
    _refused(r)
    return Blog.objects.filter(title="A new blog").exists()


def manage_blog_admin(client, user, blog, **_):
    client.force_login(user)
    r = client.post("/admin/posts/blog/add/", {
        "title": "A new blog", "slug": "a-new-blog", "standfirst": "", "status": "draft", "language": "en",
        "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
    })
    _refused(r)
    return Blog.objects.filter(title="A new blog").exists()


def manage_team_desk(client, user, blog, **_):
    UserFactory(username="newcomer")
    client.force_login(user)
    r = client.post(reverse("desk:team-set", kwargs={"slug": blog.slug}),
                    {"username": "newcomer", "role": "reporter"})
    _refused(r)
    return Membership.objects.filter(blog=blog, user__username="newcomer").exists()


def manage_partners_api(client, user, blog, **_):
    r = client.post("/api/webhooks", {"url": "http://127.0.0.1:9/hook"},
                    content_type="application/json", **_api(client, user))
    _refused(r)
    return WebhookPartner.objects.exists()


def manage_partners_admin(client, user, blog, **_):
    client.force_login(user)
    r = client.post("/admin/posts/webhookpartner/add/",
                    {"name": "Partner", "url": "http://127.0.0.1:9/hook", "active": "on"})
    _refused(r)
    return WebhookPartner.objects.exists()


PATHS = {
    (Action.DRAFT, "api"): draft_api,
    (Action.DRAFT, "desk"): draft_desk,
    (Action.DRAFT, "admin"): draft_admin,
    (Action.PUBLISH, "api"): publish_api,
    (Action.PUBLISH, "desk"): publish_desk,
    (Action.PUBLISH, "admin"): publish_admin,
    (Action.APPROVE, "api"): approve_api,
    (Action.APPROVE, "desk"): approve_desk,
    (Action.APPROVE, "admin"): approve_admin,
    (Action.CLOSE, "api"): close_api,
    (Action.CLOSE, "desk"): close_desk,
    (Action.CLOSE, "admin"): close_admin,
    (Action.MANAGE_BLOG, "api"): manage_blog_api,
    (Action.MANAGE_BLOG, "desk"): manage_blog_desk,
    (Action.MANAGE_BLOG, "admin"): manage_blog_admin,
    # Teams are managed on the desk only; partners through the API and the admin.
    (Action.MANAGE_TEAM, "desk"): manage_team_desk,
    (Action.MANAGE_PARTNERS, "api"): manage_partners_api,
    (Action.MANAGE_PARTNERS, "admin"): manage_partners_admin,
}


def test_every_action_of_the_table_is_tried_on_some_path():
    assert {action for action, _path in PATHS} == set(Action)
    assert set(TABLE) == set(ROLES)


@pytest.mark.parametrize("actor", ROLES, indirect=True, ids=str)
@pytest.mark.parametrize(("action", "path"), list(PATHS), ids=lambda v: str(v))
def test_a_role_does_an_action_on_a_path_exactly_when_the_table_allows_it(
    client, actor, action, path, blog, submitted, settings,
):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    role = actor.author.role
    took_effect = PATHS[(action, path)](client, actor, blog, submitted=submitted)
    assert took_effect == (action in TABLE[role]), f"{role} {action} via {path}"


# --- Closing notes close the blog, whichever way they are published ----------


def _assert_closed_like_close(blog, entry) -> None:
    blog.refresh_from_db()
    entry.refresh_from_db()
    assert blog.is_closed and blog.coverage_end is not None
    assert entry.is_published and entry.pinned and entry.kind == "closing"
    assert Event.objects.filter(blog=blog, type="blog.closed").count() == 1


@pytest.mark.parametrize("role", [Role.REPORTER, Role.CONTRIBUTOR])
def test_only_editors_write_a_closing_note_even_as_a_draft(blog, role):
    user = AuthorFactory(role=role).user
    for status in ["draft", "scheduled", "published"]:
        with pytest.raises(NotAllowed):
            services.entry_create(blog=blog, user=user, body="Closing", kind="closing", status=status,
                                  publish_at=timezone.now() + timedelta(hours=1) if status == "scheduled" else None)
    assert not Entry.objects.filter(kind="closing").exists()


def test_a_reporter_cannot_publish_an_editors_closing_draft(blog, editor, reporter):
    draft = make_entry(blog=blog, user=editor, body="Closing", kind="closing", status="draft")
    with pytest.raises(NotAllowed, match="closing note"):
        services.entry_publish(entry=draft, user=reporter)
    with pytest.raises(NotAllowed, match="closing note"):
        services.entry_edit(entry=draft, user=reporter, version=draft.version, status="published")
    blog.refresh_from_db()
    assert not blog.is_closed


def test_a_reporter_cannot_turn_a_draft_into_a_closing_note(blog, reporter):
    draft = make_entry(blog=blog, user=reporter, body="Soon closing", status="draft")
    with pytest.raises(NotAllowed, match="closing note"):
        services.entry_edit(entry=draft, user=reporter, version=draft.version, kind="closing")


@pytest.mark.parametrize("how", ["publish", "edit", "approve", "api-create", "schedule-due"])
def test_publishing_a_closing_note_closes_the_blog_like_close(blog, editor, how, client):
    if how == "api-create":
        response = client.post(f"/api/blogs/{blog.slug}/entries", {"body": "Goodnight", "kind": "closing"},
                               content_type="application/json", **_api(client, editor))
        assert response.status_code == 201, response.content
        _assert_closed_like_close(blog, Entry.objects.get(kind="closing"))
        return
    if how == "schedule-due":
        entry = make_entry(blog=blog, user=editor, body="Goodnight", kind="closing", status="scheduled",
                           publish_at=timezone.now() + timedelta(minutes=5))
        assert services.publish_due_entries(now=timezone.now() + timedelta(minutes=6)) == 1
    else:
        entry = make_entry(blog=blog, user=editor, body="Goodnight", kind="closing", status="draft")
        if how == "publish":
            services.entry_publish(entry=entry, user=editor)
        elif how == "edit":
            services.entry_edit(entry=entry, user=editor, version=entry.version, status="published")
        else:
            services.entry_approve(entry=entry, user=editor)
    _assert_closed_like_close(blog, entry)
    assert Event.objects.filter(blog=blog, type="entry.published", payload__entry__kind="closing").count() == 1


def test_a_reporter_patch_does_not_skip_the_approval_queue(client, blog, reporter, submitted):
    for status in ["published", "scheduled"]:
        body = {"version": submitted.version, "status": status}
        if status == "scheduled":
            body["publish_at"] = (timezone.now() + timedelta(hours=1)).isoformat()
        response = client.patch(f"/api/blogs/{blog.slug}/entries/{submitted.pk}", body,
                                content_type="application/json", **_api(client, reporter))
        assert response.status_code == 403, response.content
        assert "approval" in response.json()["detail"]
    submitted.refresh_from_db()
    assert submitted.status == "draft" and submitted.awaiting_approval
    assert not Event.objects.filter(type="entry.published", payload__entry__id=submitted.pk).exists()


def test_the_desk_offers_a_reporter_no_publish_button_on_a_submitted_draft(client, blog, reporter, submitted):
    client.force_login(reporter)
    page = client.get(reverse("desk:blog", kwargs={"slug": blog.slug})).content.decode()
    publish_url = reverse("desk:entry-publish", kwargs={"slug": blog.slug, "entry_id": submitted.pk})
    assert publish_url not in page
