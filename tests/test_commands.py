"""Management commands: create_api_token and seed_demo."""

import io

from django.core.management import call_command

from posts.domain import services
from posts.domain.models import Blog, Entry, Role


def test_create_api_token_creates_user_and_prints_token_last(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "maya", "--role", "editor", stdout=out, stderr=err)
    key = out.getvalue().strip().splitlines()[-1]
    user = services.token_user(key)
    assert user is not None and user.username == "maya"
    assert user.author.role == Role.EDITOR


def test_create_api_token_keeps_existing_user_and_role(db):
    call_command("create_api_token", "sam", "--role", "contributor", stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("create_api_token", "sam", stdout=out, stderr=io.StringIO())
    user = services.token_user(out.getvalue().strip().splitlines()[-1])
    assert user.author.role == Role.CONTRIBUTOR
    assert user.api_tokens.count() == 2


def test_seed_demo_exercises_every_kind_and_flag_and_is_idempotent(db):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    blog = Blog.objects.get()
    entries = Entry.objects.filter(blog=blog)
    assert blog.status == "live" and blog.standfirst_html
    assert {"update", "summary"} <= set(entries.values_list("kind", flat=True))
    assert entries.filter(key_event=True, status="published").count() >= 2
    assert entries.filter(pinned=True, status="published").count() == 1
    assert entries.filter(updated_at__isnull=False).exists()
    assert entries.filter(status="scheduled").exists()
    assert entries.filter(status="draft", awaiting_approval=True).exists()
    assert entries.filter(body_html__contains="embed--youtube").exists()
    assert entries.exclude(verdict="").filter(status="published").exists()  # a fact check
    assert entries.filter(image__isnull=False, status="published").count() == 1  # a photo
    assert blog.events.count() == blog.last_seq


def test_the_demo_blog_is_spread_over_an_evening_and_something_goes_live_a_minute_later(db):
    from datetime import timedelta

    from django.utils import timezone

    from posts.domain import services

    call_command("seed_demo", stdout=io.StringIO())
    blog = Blog.objects.get()
    published = list(Entry.objects.filter(blog=blog, status="published").order_by("published_at"))
    minutes = {e.published_at.replace(second=0, microsecond=0) for e in published}
    assert len(minutes) == len(published), "two entries share a minute"
    span = published[-1].published_at - published[0].published_at
    assert timedelta(hours=2) < span < timedelta(hours=3)
    assert blog.coverage_start <= published[0].published_at
    # The events readers replay say the same times as the page.
    event = blog.events.filter(type="entry.published").first()
    entry = Entry.objects.get(pk=event.payload["entry"]["id"])
    assert event.payload["entry"]["published_at"].startswith(entry.published_at.strftime("%Y-%m-%dT%H:%M:%S"))
    scheduled = Entry.objects.get(blog=blog, status="scheduled")
    assert timedelta(seconds=50) < scheduled.publish_at - timezone.now() <= timedelta(minutes=1)
    assert services.publish_due_entries(now=timezone.now() + timedelta(minutes=1)) == 1
