"""The admin's partner and token forms: a refused URL is an error on the form
(never "added successfully"), "Active" is honoured on add, and a new secret
is shown once in the add view's own answer, never in a message that a
cookie or the session would keep."""

from __future__ import annotations

import pytest

from posts.domain.models import ApiToken, WebhookPartner

ADD = "/admin/posts/webhookpartner/add/"


@pytest.fixture
def form(blog):
    return {"name": "Wire service", "url": "http://127.0.0.1:9/hook", "event_types": "[]", "blogs": [blog.pk]}


def test_a_refused_partner_url_is_a_form_error_and_not_added(admin_client, form):
    response = admin_client.post(ADD, {**form, "active": "on"}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200
    assert "LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE" in page
    assert "successfully" not in page and 'class="errorlist' in page
    assert not WebhookPartner.objects.exists()


@pytest.mark.parametrize("active", [True, False])
def test_active_is_honoured_on_add(admin_client, form, settings, active):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    data = {**form, "active": "on"} if active else form
    assert admin_client.post(ADD, data).status_code == 200
    assert WebhookPartner.objects.get().active is active


def test_the_signing_secret_is_shown_once_and_kept_in_no_cookie_or_session(admin_client, form, settings, blog):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    response = admin_client.post(ADD, {**form, "active": "on"})
    partner = WebhookPartner.objects.get()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert partner.secret.startswith("whsec_") and partner.secret in response.content.decode()
    assert list(partner.blogs.all()) == [blog]
    assert partner.secret not in "".join(str(m.value) for m in response.cookies.values())
    assert partner.secret not in str(dict(admin_client.session))
    assert partner.secret not in admin_client.get(f"/admin/posts/webhookpartner/{partner.pk}/change/").content.decode()
    assert partner.secret not in admin_client.get("/admin/posts/webhookpartner/").content.decode()


def test_an_api_token_made_in_the_admin_is_shown_once_outside_messages(admin_client, admin_user):
    response = admin_client.post("/admin/posts/apitoken/add/", {"user": admin_user.pk, "name": "script"})
    assert response.status_code == 200 and ApiToken.objects.count() == 1
    page = response.content.decode()
    key = page.split('id="shown-once-secret">')[1].split("<")[0]
    assert len(key) > 20 and ApiToken.objects.get().prefix in key
    assert key not in "".join(str(m.value) for m in response.cookies.values())
    assert key not in str(dict(admin_client.session))
