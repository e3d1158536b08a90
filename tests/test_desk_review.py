"""Approval is a conversation: an editor sends a submitted draft back with a
note, the contributor sees the note on their draft and resubmits, and both
desks see the state change through the desk's own state poll, never
through a reader event. Also: the desk is thin over services, and a new
blog starts as a draft."""

from __future__ import annotations

import pytest
from django.urls import reverse

from posts.domain import services
from posts.domain.errors import Conflict, Invalid, NotAllowed
from posts.domain.models import Blog, Event

from .factories import make_entry

JSON = {"HTTP_ACCEPT": "application/json"}


def entry_url(entry, name):
    return reverse(name, kwargs={"slug": entry.blog.slug, "entry_id": entry.pk})


def state(client, blog, since="0"):
    return client.get(reverse("desk:state", kwargs={"slug": blog.slug}), {"since": since}, **JSON).json()


@pytest.fixture
def submitted(blog, editor, contributor):
    services.team_set_member(blog=blog, user=editor, member=contributor, role="contributor")
    return make_entry(blog=blog, user=contributor, body="Gallery photo of the vote.", status="draft", submit=True)


def test_an_editor_sends_a_draft_back_and_the_contributor_resubmits(client, blog, editor, contributor, submitted):
    events_before = Event.objects.filter(blog=blog).count()
    client.force_login(editor)
    assert state(client, blog)["waiting"] == 1
    response = client.post(entry_url(submitted, "desk:entry-return"), {"note": "Credit the photographer."}, **JSON)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] and body["entry"]["review_note"] == "Credit the photographer."
    assert 'class="review-note' in body["entry_html"]
    submitted.refresh_from_db()
    assert not submitted.awaiting_approval and submitted.review_note_by == editor
    assert state(client, blog)["waiting"] == 0

    # The contributor's desk shows the note on their draft, with Resubmit.
    client.force_login(contributor)
    item = next(i for i in state(client, blog)["entries"] if i["id"] == submitted.pk)
    assert item["place"] == "pending" and "Credit the photographer." in item["html"] and "Resubmit" in item["html"]
    services.entry_edit(entry=submitted, user=contributor, version=submitted.version,
                        body="Gallery photo of the vote. Photo: Ana Lima.")
    response = client.post(entry_url(submitted, "desk:entry-submit"), **JSON)
    assert response.status_code == 200 and response.json()["entry"]["awaiting_approval"]

    client.force_login(editor)
    item = next(i for i in state(client, blog)["entries"] if i["id"] == submitted.pk)
    assert item["place"] == "queue" and "Resubmitted after a note" in item["html"]
    # Drafts are not public: none of this made a reader event.
    assert Event.objects.filter(blog=blog).count() == events_before


def test_sending_back_needs_an_editor_a_note_and_a_waiting_draft(blog, editor, reporter, contributor, submitted):
    with pytest.raises(NotAllowed):
        services.entry_return(entry=submitted, user=reporter, note="No.")
    with pytest.raises(Invalid) as empty:
        services.entry_return(entry=submitted, user=editor, note="   ")
    assert empty.value.field == "note"
    services.entry_return(entry=submitted, user=editor, note="Needs a source.")
    with pytest.raises(Conflict):
        services.entry_return(entry=submitted, user=editor, note="Again.")


def test_without_javascript_send_back_is_a_form_that_redirects(client, blog, editor, submitted):
    client.force_login(editor)
    page = client.get(reverse("desk:blog", kwargs={"slug": blog.slug})).content.decode()
    assert reverse("desk:entry-return", kwargs={"slug": blog.slug, "entry_id": submitted.pk}) in page
    response = client.post(entry_url(submitted, "desk:entry-return"), {"note": "Shorter, please."})
    assert response.status_code == 302 and response["Location"].endswith(f"#desk-entry-{submitted.pk}")
    response = client.post(entry_url(submitted, "desk:entry-return"), {"note": "Again."})
    assert response.status_code == 409


def test_a_new_blog_from_the_desk_starts_as_a_draft(client, editor):
    client.force_login(editor)
    page = client.get(reverse("desk:blog-create")).content.decode()
    assert '<option value="draft" selected>' in page
    client.post(reverse("desk:blog-create"), {"title": "Storm watch", "slug": ""})
    assert Blog.objects.get(title="Storm watch").status == Blog.Status.DRAFT


def test_opening_the_desk_writes_nothing(client, blog, django_user_model):
    """A superuser with no newsroom record gets one at log-in, not on a GET."""
    boss = django_user_model.objects.create_superuser("boss", password="pw-for-tests")
    client.post(reverse("desk:login"), {"username": "boss", "password": "pw-for-tests"})
    assert boss.author.name == "boss"
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("desk:blog", kwargs={"slug": blog.slug})).status_code == 200
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == [] or all("django_session" in w for w in writes), writes


def test_desk_views_make_no_orm_calls():
    """Views parse, call one service or selector, and reply (issue 9)."""
    from pathlib import Path

    for module in Path("posts/web/desk").glob("*.py"):
        if module.name in {"forms.py"}:
            continue
        text = module.read_text()
        assert ".objects." not in text, f"{module} calls the ORM directly"


@pytest.mark.browser
def test_both_desks_see_a_draft_sent_back_and_resubmitted_live(browser, live_url, blog, editor, contributor):
    from .test_desk_browser import desk_context

    services.team_set_member(blog=blog, user=editor, member=contributor, role="contributor")
    draft = make_entry(blog=blog, user=contributor, body="Gallery photo of the vote.", status="draft", submit=True)
    ed_ctx = desk_context(browser, live_url, editor)
    con_ctx = desk_context(browser, live_url, contributor)
    ed, con = ed_ctx.new_page(), con_ctx.new_page()
    for page in (ed, con):
        page.goto(f"/desk/blogs/{blog.slug}/")
    card = f"#desk-entry-{draft.pk}"
    assert ed.locator("header [data-waiting-count]").inner_text() == "1"

    ed.locator(f"{card} .send-back summary").click()
    ed.fill(f"#note-{draft.pk}", "Credit the photographer, please.")
    ed.locator(f"{card} [data-action='send-back']").click()
    ed.wait_for_selector(f"#pending-list {card} .review-note")
    assert ed.locator("header [data-waiting-count]").inner_text() == "0"
    assert ed.locator("#flash").inner_text().strip() == "Sent back to the writer with your note."

    con.wait_for_selector(f"{card} .review-note", timeout=15_000)  # the desk's state poll
    assert "Credit the photographer, please." in con.locator(f"{card} .review-note").inner_text()
    con.locator(f"{card} [data-action='submit']").click()
    con.wait_for_selector(f"{card}[data-awaiting='1']")

    ed.wait_for_selector(f"#queue-list {card}", timeout=15_000)
    assert ed.locator("header [data-waiting-count]").inner_text() == "1"
    for ctx in (ed_ctx, con_ctx):
        ctx.close()
