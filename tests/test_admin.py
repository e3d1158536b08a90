"""The Django admin is usable by an editor and goes through the services."""

import pytest

from posts.domain.models import Entry, Event

from .factories import make_entry


@pytest.fixture
def admin_client_for(client, editor):
    editor.is_staff = True
    editor.is_superuser = True
    editor.save()
    client.force_login(editor)
    return client


@pytest.mark.parametrize(
    "path",
    ["/admin/posts/blog/", "/admin/posts/entry/", "/admin/posts/author/", "/admin/posts/apitoken/",
     "/admin/posts/event/", "/admin/posts/webhookpartner/", "/admin/posts/entry/add/"],
)
def test_admin_pages_open_for_an_editor(admin_client_for, blog, path):
    assert admin_client_for.get(path).status_code == 200


def test_entry_added_in_admin_is_published_with_its_event(admin_client_for, blog, editor):
    response = admin_client_for.post(
        "/admin/posts/entry/add/",
        {"blog": blog.pk, "kind": "update", "headline": "From admin", "body": "Typed in the admin",
         "status": "published", "authors": [editor.author.pk],
         "revisions-TOTAL_FORMS": 0, "revisions-INITIAL_FORMS": 0},
    )
    assert response.status_code == 302, response.content[:2000]
    entry = Entry.objects.get(headline="From admin")
    assert entry.is_published and entry.body_html == "<p>Typed in the admin</p>"
    assert Event.objects.filter(blog=blog, type="entry.published").count() == 1


def test_entry_edited_in_admin_sets_updated_and_keeps_a_revision(admin_client_for, blog, editor):
    entry = make_entry(blog=blog, user=editor, body="Frist")
    page = admin_client_for.get(f"/admin/posts/entry/{entry.pk}/change/")
    assert b"Frist" in page.content
    response = admin_client_for.post(
        f"/admin/posts/entry/{entry.pk}/change/",
        {"blog": blog.pk, "kind": "update", "headline": "", "body": "First", "status": "published",
         "authors": [editor.author.pk],
         "revisions-TOTAL_FORMS": 1, "revisions-INITIAL_FORMS": 1, "revisions-MIN_NUM_FORMS": 0,
         "revisions-MAX_NUM_FORMS": 1000, "revisions-0-id": entry.revisions.get().pk,
         "revisions-0-entry": entry.pk},
    )
    assert response.status_code == 302, response.content[:3000]
    entry.refresh_from_db()
    assert entry.body == "First" and entry.updated_at is not None and entry.version == 2
    assert entry.revisions.count() == 2
    assert Event.objects.filter(blog=blog).last().type == "entry.updated"


def test_admin_refusal_is_shown_next_to_the_form_and_nothing_is_saved(admin_client_for, blog, editor, settings):
    settings.LIVEBLOG_MAX_BODY_CHARS = 10
    response = admin_client_for.post(
        "/admin/posts/entry/add/",
        {"blog": blog.pk, "kind": "update", "body": "This body is far too long", "status": "published",
         "revisions-TOTAL_FORMS": 0, "revisions-INITIAL_FORMS": 0},
    )
    assert response.status_code == 200
    assert b"the limit is 10" in response.content
    assert b"This body is far too long" in response.content
    assert not Entry.objects.exists()
