"""The reporter desk through its forms (no browser): each form posts to a
service, errors come back next to their field, and the JSON variant the
desk script uses says the same thing."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from posts.domain import services
from posts.domain.models import Blog, Entry, EntryRevision, Role, WebhookPartner
from posts.domain.selectors import desk_entries

from .factories import AuthorFactory, make_blog, make_entry

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def desk(client, reporter, blog):
    client.force_login(reporter)
    return client


def desk_url(blog, name="desk:blog", **kwargs):
    return reverse(name, kwargs={"slug": blog.slug, **kwargs})


def entry_url(entry, name):
    return reverse(name, kwargs={"slug": entry.blog.slug, "entry_id": entry.pk})


# --- Login and the list of blogs -------------------------------------------


def test_desk_needs_a_login(client, blog):
    response = client.get("/desk/")
    assert response.status_code == 302
    assert response["Location"].startswith("/desk/login/")


def test_login_page_logs_a_reporter_in_and_goes_to_the_desk(client, reporter):
    response = client.post("/desk/login/", {"username": "rep", "password": "pw-for-tests"})
    assert response.status_code == 302 and response["Location"] == "/desk/"


def test_wrong_password_is_explained_on_the_login_page(client, reporter):
    response = client.post("/desk/login/", {"username": "rep", "password": "nope"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()


def test_logout_is_a_post(client, reporter):
    client.force_login(reporter)
    assert client.post("/desk/logout/").status_code == 302
    assert client.get("/desk/").status_code == 302


def test_home_lists_my_blogs_live_first(client, editor, reporter):
    closed = make_blog(editor=editor, title="Yesterday's vote")
    services.blog_close(blog=closed, user=editor, body="That's all.")
    draft = make_blog(editor=editor, title="Tomorrow's summit", status="draft")
    live = make_blog(editor=editor, title="Budget night")
    for b in (closed, draft, live):
        services.team_set_member(blog=b, user=editor, member=reporter, role=Role.REPORTER)
    client.force_login(reporter)
    html = client.get("/desk/").content.decode()
    positions = [html.index(t) for t in ("Budget night", "Tomorrow&#x27;s summit", "Yesterday&#x27;s vote")]
    assert positions == sorted(positions)


def test_only_editors_see_and_may_use_create_a_blog(client, reporter, editor):
    client.force_login(reporter)
    assert "Create a blog" not in client.get("/desk/").content.decode()
    assert client.get("/desk/new-blog/").status_code == 403
    client.force_login(editor)
    response = client.post("/desk/new-blog/", {"title": "Storm watch", "status": "live", "slug": ""})
    assert response.status_code == 302
    blog = Blog.objects.get(title="Storm watch")
    assert response["Location"] == desk_url(blog)


def test_a_taken_slug_is_reported_next_to_the_slug_field(client, editor, blog):
    client.force_login(editor)
    response = client.post("/desk/new-blog/", {"title": "Other", "status": "live", "slug": blog.slug})
    assert response.status_code == 409
    html = response.content.decode()
    error = re.search(r'<p class="field-error" id="id_slug-error">([^<]+)</p>', html)
    assert error and "is taken" in error.group(1)
    assert 'aria-describedby="id_slug-help id_slug-error"' in html


def test_someone_without_a_role_is_told_so(client, blog, django_user_model):
    nobody = django_user_model.objects.create_user("reader", password="x")
    client.force_login(nobody)
    response = client.get(desk_url(blog))
    assert response.status_code == 403
    assert "no role on this blog" in response.content.decode()


# --- Composer ------------------------------------------------------------------


def test_publish_from_the_composer_publishes_and_returns_to_the_entry(desk, blog, reporter):
    response = desk.post(desk_url(blog, "desk:entry-create"), {
        "headline": "Polls close", "body": "Counting **starts** now.", "kind": "update",
        "key_event": "on", "action": "publish",
    })
    entry = Entry.objects.get(headline="Polls close")
    assert response.status_code == 302 and response["Location"].endswith(f"#desk-entry-{entry.pk}")
    assert entry.status == "published" and entry.key_event
    assert [a.user for a in entry.authors.all()] == [reporter]


def test_bylines_can_name_colleagues_on_the_team(desk, blog, editor, reporter):
    colleague = AuthorFactory(user__username="col", display_name="Sam Colleague")
    services.team_set_member(blog=blog, user=editor, member=colleague.user, role=Role.REPORTER)
    page = desk.get(desk_url(blog)).content.decode()
    assert "Sam Colleague" in page
    me = reporter.author
    desk.post(desk_url(blog, "desk:entry-create"), {
        "body": "Two of us here.", "kind": "update", "authors": [me.pk, colleague.pk], "action": "publish",
    })
    entry = Entry.objects.get(body="Two of us here.")
    assert {a.pk for a in entry.authors.all()} == {me.pk, colleague.pk}


def test_an_empty_body_is_refused_next_to_the_body_field(desk, blog):
    response = desk.post(desk_url(blog, "desk:entry-create"), {"headline": "x", "body": "  ", "action": "publish"})
    assert response.status_code == 422
    html = response.content.decode()
    assert re.search(r'id="id_body-error">The body cannot be empty', html)
    assert re.search(r'<textarea[^>]*aria-invalid="true"', html)
    assert 'value="x"' in html  # the headline typed is still there
    assert not Entry.objects.filter(headline="x").exists()


def test_the_json_variant_names_the_field_in_error(desk, blog):
    response = desk.post(desk_url(blog, "desk:entry-create"), {"body": "x" * 20001, "action": "publish"}, **JSON)
    assert response.status_code == 413
    data = response.json()
    assert data["ok"] is False and "limit is 20,000" in data["errors"]["body"][0]


def test_save_draft_keeps_it_off_the_public_timeline(desk, blog):
    response = desk.post(desk_url(blog, "desk:entry-create"), {"body": "Not yet.", "action": "draft"}, **JSON)
    assert response.status_code == 201
    data = response.json()
    assert data["entry"]["status"] == "draft"
    assert 'data-status="draft"' in data["entry_html"] and "Draft</span>" in data["entry_html"]


def test_schedule_reads_the_time_in_the_reporters_own_time_zone(desk, blog):
    when = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    # A reporter at UTC+2 types local wall-clock time; getTimezoneOffset() is -120.
    local = (when + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = desk.post(desk_url(blog, "desk:entry-create"), {
        "body": "Results page goes up.", "action": "schedule", "publish_at": local, "tz_offset": "-120",
    }, **JSON)
    assert response.status_code == 201, response.json()
    entry = Entry.objects.get(body="Results page goes up.")
    assert entry.status == "scheduled" and entry.publish_at == when


def test_schedule_without_a_time_says_so_next_to_the_time(desk, blog):
    response = desk.post(desk_url(blog, "desk:entry-create"), {"body": "Later.", "action": "schedule"}, **JSON)
    assert response.status_code == 422
    assert "publish_at" in response.json()["errors"]


def test_a_contributors_publish_button_submits_for_approval(client, contributor, blog):
    client.force_login(contributor)
    page = client.get(desk_url(blog)).content.decode()
    assert 'value="submit" class="primary" data-primary>Submit for approval' in page
    assert 'value="publish"' not in page
    client.post(desk_url(blog, "desk:entry-create"), {"body": "From the gallery.", "action": "submit"})
    entry = Entry.objects.get(body="From the gallery.")
    assert entry.status == "draft" and entry.awaiting_approval


def test_a_contributor_cannot_publish_even_by_forging_the_button(client, contributor, blog):
    client.force_login(contributor)
    response = client.post(desk_url(blog, "desk:entry-create"), {"body": "Sneaky.", "action": "publish"}, **JSON)
    assert response.status_code == 403
    assert "Contributors cannot publish" in response.json()["message"]


def test_editors_see_the_approval_queue_and_approving_publishes(client, editor, contributor, blog):
    draft = make_entry(blog=blog, user=contributor, body="Queue me.", status="draft", submit=True)
    client.force_login(editor)
    html = client.get(desk_url(blog)).content.decode()
    queue = html[html.index('id="queue-list"'):html.index('id="timeline-list"')]
    assert f'id="desk-entry-{draft.pk}"' in queue and "Approve and publish" in queue
    response = client.post(entry_url(draft, "desk:entry-publish"), **JSON)
    assert response.status_code == 200 and response.json()["entry"]["status"] == "published"
    draft.refresh_from_db()
    assert draft.is_published and not draft.awaiting_approval


# --- Edit, conflict, delete, history ----------------------------------------------


def test_edit_saves_and_marks_the_entry_updated(desk, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Turnout 61%.")
    response = desk.post(entry_url(entry, "desk:entry-edit"), {
        f"e{entry.pk}-body": "Turnout 62%.", f"e{entry.pk}-kind": "update", f"e{entry.pk}-version": entry.version,
    })
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.body == "Turnout 62%." and entry.updated_at is not None and entry.version == 2


def test_a_stale_edit_is_refused_and_shows_both_versions(desk, blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="Turnout 61%.")
    services.entry_edit(entry=entry, user=editor, version=1, body="Turnout 63% (official).")
    response = desk.post(entry_url(entry, "desk:entry-edit"), {
        f"e{entry.pk}-body": "Turnout 62%.", f"e{entry.pk}-kind": "update", f"e{entry.pk}-version": "1",
    }, **JSON)
    assert response.status_code == 409
    data = response.json()
    assert data["current"]["body"] == "Turnout 63% (official)." and data["current"]["version"] == 2
    form_html = data["form_html"]
    assert "Turnout 62%." in form_html  # the reporter's text, kept
    assert "Turnout 63% (official)." in form_html  # theirs, beside it
    assert f'name="e{entry.pk}-version" value="2"' in form_html  # saving again re-applies
    entry.refresh_from_db()
    assert entry.body == "Turnout 63% (official)."


def test_re_applying_after_a_conflict_saves_the_reporters_text(desk, blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="A.")
    services.entry_edit(entry=entry, user=editor, version=1, body="B.")
    form = {f"e{entry.pk}-body": "C.", f"e{entry.pk}-kind": "update", f"e{entry.pk}-version": "1"}
    conflict = desk.post(entry_url(entry, "desk:entry-edit"), form)
    assert conflict.status_code == 409 and "Someone else saved this entry first" in conflict.content.decode()
    form[f"e{entry.pk}-version"] = "2"
    assert desk.post(entry_url(entry, "desk:entry-edit"), form).status_code == 302
    entry.refresh_from_db()
    assert entry.body == "C." and entry.version == 3


def test_delete_asks_first_then_deletes(desk, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Wrong ward.")
    confirm = desk.get(entry_url(entry, "desk:entry-delete"))
    assert confirm.status_code == 200 and "Delete this entry?" in confirm.content.decode()
    entry.refresh_from_db()
    assert entry.status == "published"
    response = desk.post(entry_url(entry, "desk:entry-delete"), {"version": entry.version})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == "deleted"


def test_deleting_an_entry_a_colleague_just_changed_is_refused(desk, blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="v1")
    services.entry_edit(entry=entry, user=editor, version=1, body="v2")
    response = desk.post(entry_url(entry, "desk:entry-delete"), {"version": "1"}, **JSON)
    assert response.status_code == 409 and response.json()["current"]["body"] == "v2"
    assert response.json()["code"] == "stale_version"


def test_each_entry_shows_its_revision_history(desk, blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="first")
    services.entry_edit(entry=entry, user=editor, version=1, body="second")
    html = desk.get(entry_url(entry, "desk:entry-history") + "?partial=1").content.decode()
    assert html.index("Version 2") < html.index("Version 1")
    assert "second" in html and "first" in html
    assert EntryRevision.objects.filter(entry=entry).count() == 2


def test_pin_and_unpin(desk, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Summary so far", kind="summary")
    desk.post(entry_url(entry, "desk:entry-pin"), {"pinned": "1"})
    entry.refresh_from_db()
    assert entry.pinned
    desk.post(entry_url(entry, "desk:entry-pin"), {"pinned": "0"})
    entry.refresh_from_db()
    assert not entry.pinned


def test_editing_someone_elses_entry_as_a_contributor_is_refused(client, contributor, reporter, blog):
    entry = make_entry(blog=blog, user=reporter, body="Theirs")
    client.force_login(contributor)
    response = client.post(entry_url(entry, "desk:entry-edit"), {
        f"e{entry.pk}-body": "Mine", f"e{entry.pk}-kind": "update", f"e{entry.pk}-version": "1",
    })
    assert response.status_code == 403
    assert "You cannot change this entry." in response.content.decode()


# --- Editors' panel ----------------------------------------------------------------


def test_close_needs_a_note_and_then_closes_and_reopens(client, editor, blog):
    client.force_login(editor)
    empty = client.post(desk_url(blog, "desk:blog-close"), {"close_body": ""})
    assert empty.status_code == 422
    assert re.search(r'id="id_close_body-error">The body cannot be empty', empty.content.decode())
    client.post(desk_url(blog, "desk:blog-close"), {"close_body": "That's all from us tonight."})
    blog.refresh_from_db()
    assert blog.status == "closed"
    assert Entry.objects.get(blog=blog, kind="closing").pinned
    assert "Reopen the blog" in client.get(desk_url(blog)).content.decode()
    client.post(desk_url(blog, "desk:blog-open"))
    blog.refresh_from_db()
    assert blog.status == "live"


def test_editors_manage_the_team_and_roles(client, editor, blog, reporter):
    client.force_login(editor)
    unknown = client.post(desk_url(blog, "desk:team-set"), {"username": "ghost", "role": "reporter"})
    assert unknown.status_code == 400 and "No active user is called" in unknown.content.decode()
    client.post(desk_url(blog, "desk:team-set"), {"username": "rep", "role": "contributor"})
    assert blog.memberships.get(user=reporter).role == "contributor"
    client.post(reverse("desk:team-remove", kwargs={"slug": blog.slug, "user_id": reporter.pk}))
    assert not blog.memberships.filter(user=reporter).exists()


def test_reporters_cannot_manage_the_team(desk, blog, contributor):
    response = desk.post(desk_url(blog, "desk:team-set"), {"username": "con", "role": "editor"})
    assert response.status_code == 403


def test_editors_see_readers_and_webhook_partner_health(client, editor, blog):
    ok = WebhookPartner.objects.create(name="Wire Co", url="https://wire.example/hook", secret="whsec_x",
                                       last_success_at=timezone.now())
    paused = WebhookPartner.objects.create(name="Aggregator", url="https://agg.example/h", secret="whsec_y",
                                           paused_at=timezone.now(), pause_reason="10 failures in a row",
                                           consecutive_failures=10)
    paused.blogs.add(blog)
    other_blog = make_blog(editor=editor, title="Elsewhere")
    elsewhere = WebhookPartner.objects.create(name="Elsewhere Only", url="https://e.example/", secret="whsec_z")
    elsewhere.blogs.add(other_blog)
    client.force_login(editor)
    html = client.get(desk_url(blog)).content.decode()
    assert 'id="reader-count">0<' in html
    assert "Wire Co" in html and "Healthy" in html
    assert "Aggregator" in html and "Paused" in html and "10 failures in a row" in html
    assert "Elsewhere Only" not in html
    assert "2 partners receive this blog's events: 1 healthy." in html
    assert html.index("Aggregator") < html.index("Wire Co")  # the one needing a look first
    assert "whsec_" not in html
    assert ok.pk


def test_a_newsroom_with_many_partners_sees_a_count_and_those_needing_a_look_first(client, editor, blog):
    WebhookPartner.objects.bulk_create(
        WebhookPartner(name=f"Partner {n:03}", url=f"https://p{n}.example/hook", secret="whsec_x") for n in range(40)
    )
    WebhookPartner.objects.filter(name="Partner 039").update(consecutive_failures=3)
    WebhookPartner.objects.filter(name="Partner 038").update(active=False)
    client.force_login(editor)
    html = client.get(desk_url(blog)).content.decode()
    panel = html[html.index('id="partners-title"'):]
    panel = panel[:panel.index("</section>")]
    assert "40 partners receive this blog's events: 38 healthy." in panel
    assert panel.count('class="partner partner--') == 10  # selectors.PARTNERS_SHOWN
    assert panel.index("Partner 039") < panel.index("Partner 038") < panel.index("Partner 000")  # failing, off, healthy
    assert "30 more not listed here" in panel


def test_reporters_do_not_get_the_editors_panel(desk, blog):
    html = desk.get(desk_url(blog)).content.decode()
    assert "Close the blog" not in html and 'id="queue-list"' not in html


# --- Script endpoints -----------------------------------------------------------


def test_preview_renders_markdown_safely_and_spots_embeds(desk):
    body = ("**Bold** <script>alert(1)</script>\n\nhttps://x.com/newsdesk/status/12345\n\n"
            "See https://www.youtube.com/watch?v=aqz-KE-bpKQ for more")
    data = desk.post("/desk/preview/", {"body": body}).json()
    assert "<strong>Bold</strong>" in data["html"] and "<script" not in data["html"]
    assert 'data-embed="x"' in data["html"]
    assert [(e["provider"], e["embeds"]) for e in data["embeds"]] == [("x", True), ("youtube", False)]


def test_preview_needs_a_login(client):
    assert client.post("/desk/preview/", {"body": "x"}).status_code == 302


def test_state_lists_every_entry_and_renders_only_what_changed(desk, blog, reporter):
    old = make_entry(blog=blog, user=reporter, body="Old news")
    Entry.objects.filter(pk=old.pk).update(modified_at=timezone.now() - timedelta(minutes=5))
    since = f"{time.time():.6f}"
    draft = make_entry(blog=blog, user=reporter, body="Fresh draft", status="draft")
    data = desk.get(desk_url(blog, "desk:state") + f"?since={since}").json()
    ids = [e["id"] for e in data["entries"]]
    assert ids == [draft.pk, old.pk]  # drafts first
    by_id = {e["id"]: e for e in data["entries"]}
    assert "html" in by_id[draft.pk] and "html" not in by_id[old.pk]
    assert by_id[draft.pk]["status"] == "draft" and data["reader_count"] == 0
    everything = desk.get(desk_url(blog, "desk:state") + "?since=0").json()
    assert all("html" in e for e in everything["entries"])


def test_desk_entries_puts_drafts_and_scheduled_first(blog, reporter):
    published = make_entry(blog=blog, user=reporter, body="out")
    draft = make_entry(blog=blog, user=reporter, body="in", status="draft")
    assert [e.pk for e in desk_entries(blog=blog)] == [draft.pk, published.pk]


def test_unknown_blog_is_a_clear_404(desk):
    response = desk.get("/desk/blogs/no-such-blog/")
    assert response.status_code == 404 and "There is no blog" in response.content.decode()
    assert desk.get("/desk/blogs/no-such-blog/state/", **JSON).json()["ok"] is False


def test_the_seeded_demo_users_can_log_in_to_the_desk(client, db):
    import io

    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())
    response = client.post("/desk/login/", {"username": "reporter", "password": "demo-password"})
    assert response.status_code == 302 and response["Location"] == "/desk/"
    assert "Harbour City budget night" in client.get("/desk/").content.decode()


def test_a_stale_edit_answers_the_desk_script_with_the_api_s_code(desk, blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="v1")
    services.entry_edit(entry=entry, user=editor, version=1, body="v2")
    prefix = f"e{entry.pk}"
    response = desk.post(entry_url(entry, "desk:entry-edit"),
                         {f"{prefix}-body": "mine", f"{prefix}-version": "1", f"{prefix}-kind": "update"}, **JSON)
    assert response.status_code == 409
    assert response.json()["code"] == "stale_version" and response.json()["ok"] is False
