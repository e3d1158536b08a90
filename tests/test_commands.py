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
    assert blog.events.count() == blog.last_seq
