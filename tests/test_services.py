"""Every service transition and the event it writes."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from posts.domain import services
from posts.domain.errors import Conflict, Invalid, NotAllowed, TooLarge
from posts.domain.models import Blog, Entry, EntryRevision, Event, Role

from .factories import make_blog, make_entry


def events(blog):
    return list(Event.objects.filter(blog=blog).order_by("seq").values_list("seq", "type"))


def last_event(blog):
    return Event.objects.filter(blog=blog).order_by("-seq").first()


# --- Blogs -------------------------------------------------------------------


def test_blog_create_makes_creator_an_editor_and_writes_blog_updated(editor):
    blog = make_blog(editor=editor, title="Budget day", standfirst="Follow **every** line.")
    assert blog.slug == "budget-day"
    assert blog.standfirst_html == "<p>Follow <strong>every</strong> line.</p>"
    assert blog.coverage_start is not None
    assert blog.memberships.get().role == "editor"
    assert events(blog) == [(1, "blog.updated")]
    assert last_event(blog).payload["blog"]["seq"] == 1


def test_blog_slugs_stay_unique_and_a_taken_slug_is_a_conflict(editor):
    first = make_blog(editor=editor, title="Storm watch")
    second = make_blog(editor=editor, title="Storm watch")
    assert (first.slug, second.slug) == ("storm-watch", "storm-watch-2")
    with pytest.raises(Conflict):
        make_blog(editor=editor, title="Other", slug="storm-watch")


def test_only_editors_create_blogs(reporter):
    with pytest.raises(NotAllowed):
        make_blog(editor=reporter)


def test_draft_blog_opens_with_coverage_start(editor):
    blog = make_blog(editor=editor, status="draft")
    assert blog.coverage_start is None
    services.blog_open(blog=blog, user=editor)
    blog.refresh_from_db()
    assert blog.status == "live" and blog.coverage_start is not None
    assert events(blog)[-1] == (2, "blog.updated")


def test_blog_update_without_changes_writes_no_event(blog, editor):
    services.blog_update(blog=blog, user=editor, title=blog.title)
    assert events(blog) == [(1, "blog.updated")]


def test_close_posts_pinned_closing_note_sets_coverage_end_and_status(blog, editor, reporter):
    pinned = make_entry(blog=blog, user=reporter, pinned=True, body="Summary so far")
    closing = services.blog_close(blog=blog, user=editor, body="That's all from us tonight.", headline="Closing")
    blog.refresh_from_db()
    pinned.refresh_from_db()
    assert blog.status == "closed" and blog.coverage_end is not None
    assert closing.kind == "closing" and closing.pinned and closing.is_published
    assert not pinned.pinned
    assert [t for _, t in events(blog)][-4:] == [
        "entry.published", "entry.updated", "entry.published", "blog.closed",
    ]
    assert last_event(blog).payload["blog"]["pinned"]["id"] == closing.pk


def test_closed_blog_refuses_new_entries_with_a_clear_error(blog, editor, reporter):
    services.blog_close(blog=blog, user=editor, body="Closing now.")
    with pytest.raises(Conflict, match="closed"):
        make_entry(blog=blog, user=reporter)
    with pytest.raises(Conflict, match="already closed"):
        services.blog_close(blog=blog, user=editor, body="Again")


def test_reopen_lets_reporters_post_again(blog, editor, reporter):
    services.blog_close(blog=blog, user=editor, body="Closing now.")
    services.blog_open(blog=blog, user=editor)
    blog.refresh_from_db()
    assert blog.status == "live" and blog.coverage_end is None
    assert make_entry(blog=blog, user=reporter).is_published


def test_closing_needs_the_close_service_not_a_status_change(blog, editor):
    with pytest.raises(Invalid, match="closing note"):
        services.blog_update(blog=blog, user=editor, status="closed")


def test_published_closing_kind_entry_closes_the_blog(blog, editor):
    entry = make_entry(blog=blog, user=editor, kind="closing", body="Goodnight.")
    blog.refresh_from_db()
    assert blog.status == Blog.Status.CLOSED and entry.pinned


# --- Entries -------------------------------------------------------------------


def test_publish_writes_entry_and_revision_and_event(blog, reporter):
    entry = make_entry(blog=blog, user=reporter, headline="Polls closed", key_event=True)
    assert entry.is_published and entry.published_at is not None
    assert entry.body_html == "<p>Polls have closed.</p>"
    assert entry.revisions.count() == 1
    event = last_event(blog)
    assert (event.seq, event.type) == (2, "entry.published")
    assert event.payload["entry"]["id"] == entry.pk
    assert event.payload["entry"]["authors"] == [{"name": reporter.author.name}]
    assert event.message["seq"] == 2 and event.message["type"] == "entry.published"
    blog.refresh_from_db()
    assert blog.last_event_at == event.created_at  # Last-Modified without a query


def test_body_text_is_made_at_save_and_follows_edits(blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Turnout is **high** &amp; <b>rising</b>\n\nin the north")
    assert Entry.objects.get(pk=entry.pk).body_text == "Turnout is high & rising\nin the north"  # one line per paragraph
    services.entry_edit(entry=entry, user=reporter, version=1, body="Turnout *fell*.")
    assert Entry.objects.get(pk=entry.pk).body_text == "Turnout fell."


def test_draft_writes_no_reader_event_until_published(blog, reporter):
    draft = make_entry(blog=blog, user=reporter, status="draft")
    assert events(blog) == [(1, "blog.updated")]
    services.entry_publish(entry=draft, user=reporter)
    draft.refresh_from_db()
    assert draft.is_published and draft.version == 2
    assert events(blog)[-1] == (2, "entry.published")


def test_edit_after_publish_shows_updated_marker_and_keeps_position(blog, reporter):
    first = make_entry(blog=blog, user=reporter, body="First")
    make_entry(blog=blog, user=reporter, body="Second")
    published_at = first.published_at
    edited = services.entry_edit(entry=first, user=reporter, version=1, body="First, corrected")
    assert edited.updated_at is not None
    assert edited.published_at == published_at
    assert edited.version == 2
    assert [e.body for e in Entry.objects.filter(blog=blog).order_by("-published_at", "-id")] == [
        "Second", "First, corrected",
    ]
    assert last_event(blog).type == "entry.updated"
    assert last_event(blog).payload["entry"]["updated_at"] is not None
    assert list(EntryRevision.objects.filter(entry=first).values_list("version", "body")) == [
        (2, "First, corrected"), (1, "First"),
    ]


def test_flag_change_after_publish_is_not_an_updated_marker(blog, reporter):
    entry = make_entry(blog=blog, user=reporter)
    edited = services.entry_set_key_event(entry=entry, user=reporter, key_event=True)
    assert edited.key_event and edited.updated_at is None
    assert last_event(blog).type == "entry.updated"


def test_editing_a_draft_never_sets_updated(blog, reporter):
    draft = make_entry(blog=blog, user=reporter, status="draft")
    draft = services.entry_edit(entry=draft, user=reporter, version=1, body="Better words")
    published = services.entry_publish(entry=draft, user=reporter)
    assert published.updated_at is None


def test_stale_version_is_refused_with_the_current_entry(blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="Original")
    services.entry_edit(entry=entry, user=editor, version=1, body="Editor's fix")
    with pytest.raises(Conflict) as caught:
        services.entry_edit(entry=entry, user=reporter, version=1, body="Reporter's fix")
    assert caught.value.status_code == 409
    assert caught.value.current["body"] == "Editor's fix"
    assert caught.value.current["version"] == 2
    entry.refresh_from_db()
    assert entry.body == "Editor's fix"


def test_edit_without_changes_writes_nothing(blog, reporter):
    entry = make_entry(blog=blog, user=reporter)
    before = events(blog)
    same = services.entry_edit(entry=entry, user=reporter, version=1, body=entry.body)
    assert same.version == 1 and events(blog) == before


def test_delete_removes_from_readers_and_announces_it(blog, reporter):
    entry = make_entry(blog=blog, user=reporter, pinned=True)
    services.entry_delete(entry=entry, user=reporter)
    entry.refresh_from_db()
    assert entry.status == "deleted" and not entry.pinned
    assert last_event(blog).type == "entry.deleted"
    assert last_event(blog).payload["entry"]["id"] == entry.pk
    with pytest.raises(Conflict, match="deleted"):
        services.entry_edit(entry=entry, user=reporter, version=entry.version, body="x")


def test_deleting_a_draft_is_not_announced(blog, reporter):
    draft = make_entry(blog=blog, user=reporter, status="draft")
    services.entry_delete(entry=draft, user=reporter)
    assert events(blog) == [(1, "blog.updated")]


def test_pinning_a_second_entry_unpins_the_first(blog, reporter):
    first = make_entry(blog=blog, user=reporter, pinned=True)
    second = make_entry(blog=blog, user=reporter)
    services.entry_pin(entry=second, user=reporter)
    first.refresh_from_db()
    assert not first.pinned
    assert Entry.objects.filter(blog=blog, pinned=True).get() == second
    assert [t for _, t in events(blog)][-2:] == ["entry.updated", "entry.updated"]


def test_database_refuses_two_pinned_published_entries(blog, reporter):
    make_entry(blog=blog, user=reporter, pinned=True)
    other = make_entry(blog=blog, user=reporter)
    with pytest.raises(IntegrityError), transaction.atomic():
        Entry.objects.filter(pk=other.pk).update(pinned=True)


def test_a_pinned_draft_takes_the_pin_when_published(blog, reporter):
    first = make_entry(blog=blog, user=reporter, pinned=True)
    draft = make_entry(blog=blog, user=reporter, pinned=True, status="draft")
    services.entry_publish(entry=draft, user=reporter)
    first.refresh_from_db()
    assert not first.pinned
    assert Entry.objects.get(blog=blog, pinned=True, status="published") == draft


def test_scheduled_entry_is_published_once_when_due(blog, reporter):
    when = timezone.now() + timedelta(minutes=5)
    entry = make_entry(blog=blog, user=reporter, status="scheduled", publish_at=when)
    assert services.publish_due_entries(now=timezone.now()) == 0
    assert services.publish_due_entries(now=when + timedelta(seconds=1)) == 1
    assert services.publish_due_entries(now=when + timedelta(seconds=2)) == 0
    entry.refresh_from_db()
    assert entry.is_published and entry.publish_at is None
    assert [t for _, t in events(blog)].count("entry.published") == 1


def test_schedule_in_the_past_is_refused(blog, reporter):
    with pytest.raises(Invalid, match="past"):
        make_entry(blog=blog, user=reporter, status="scheduled", publish_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(Invalid, match="publish_at"):
        make_entry(blog=blog, user=reporter, status="scheduled")


def test_oversized_body_is_413_and_empty_body_is_422(blog, reporter, settings):
    settings.LIVEBLOG_MAX_BODY_CHARS = 100
    with pytest.raises(TooLarge) as too_large:
        make_entry(blog=blog, user=reporter, body="x" * 101)
    assert too_large.value.status_code == 413
    with pytest.raises(Invalid):
        make_entry(blog=blog, user=reporter, body="   ")
    with pytest.raises(Invalid, match="kind"):
        make_entry(blog=blog, user=reporter, kind="gossip")
    assert events(blog) == [(1, "blog.updated")]


# --- Roles ---------------------------------------------------------------------


def test_contributor_cannot_publish(blog, contributor):
    with pytest.raises(NotAllowed, match="Contributors cannot publish"):
        make_entry(blog=blog, user=contributor)
    draft = make_entry(blog=blog, user=contributor, status="draft", submit=True)
    assert draft.awaiting_approval
    with pytest.raises(NotAllowed):
        services.entry_publish(entry=draft, user=contributor)
    with pytest.raises(NotAllowed):
        services.entry_edit(entry=draft, user=contributor, version=draft.version, status="published")


def test_contributor_edits_own_draft_but_not_others(blog, contributor, reporter):
    own = make_entry(blog=blog, user=contributor, status="draft")
    services.entry_edit(entry=own, user=contributor, version=1, body="Tightened")
    theirs = make_entry(blog=blog, user=reporter, status="draft")
    with pytest.raises(NotAllowed):
        services.entry_edit(entry=theirs, user=contributor, version=1, body="Mine now")


def test_editor_approves_a_contributors_draft(blog, contributor, editor, reporter):
    draft = make_entry(blog=blog, user=contributor, status="draft", submit=True)
    with pytest.raises(NotAllowed):
        services.entry_approve(entry=draft, user=reporter)
    approved = services.entry_approve(entry=draft, user=editor)
    assert approved.is_published and not approved.awaiting_approval
    assert last_event(blog).type == "entry.published"


def test_team_role_overrides_newsroom_role(blog, editor, reporter):
    services.team_set_member(blog=blog, user=editor, member=reporter, role="contributor")
    with pytest.raises(NotAllowed):
        make_entry(blog=blog, user=reporter)


def test_strangers_cannot_write(blog, db):
    from .factories import UserFactory

    with pytest.raises(NotAllowed):
        make_entry(blog=blog, user=UserFactory())


# --- Tokens --------------------------------------------------------------------


def test_token_is_stored_hashed_and_authenticates(reporter):
    token, key = services.token_create(user=reporter)
    assert key.startswith("lb_") and key not in token.key_hash and token.prefix == key[:10]
    assert services.token_user(key) == reporter
    services.token_revoke(token=token)
    assert services.token_user(key) is None
    assert services.token_user("lb_nonsense") is None


def test_someone_new_added_to_one_team_gets_no_more_than_contributor_elsewhere(editor, blog):
    from django.contrib.auth import get_user_model

    from posts.domain import permissions

    other = make_blog(editor=editor, title="Another story")
    newcomer = get_user_model().objects.create_user(username="newcomer")
    services.team_set_member(blog=blog, user=editor, member=newcomer, role=Role.CONTRIBUTOR)
    assert permissions.role_for(newcomer, blog) == Role.CONTRIBUTOR
    assert permissions.role_for(newcomer, other) == Role.CONTRIBUTOR
    with pytest.raises(NotAllowed):
        services.entry_create(blog=other, user=newcomer, body="Sneaky publish.")
