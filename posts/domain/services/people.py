"""Newsroom people: authors and roles, blog teams, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from posts.domain import permissions
from posts.domain.errors import Invalid
from posts.domain.models import (
    ApiToken,
    Author,
    Blog,
    Membership,
    Role,
)
from posts.domain.text import clean_text

from .outbox import require

User = get_user_model()


def author_ensure(*, username: str, role: str | None = None, display_name: str = "") -> Author:
    """The user and their newsroom role, created if missing."""
    if role is not None and role not in Role.values:
        raise Invalid(f"Unknown role '{role}'; use one of {', '.join(Role.values)}.", field="role")
    display_name = clean_text(display_name or "", field="display_name").strip()
    with transaction.atomic():
        user, _ = User.objects.get_or_create(username=username)
        author, created = Author.objects.get_or_create(
            user=user, defaults={"role": role or Role.REPORTER, "display_name": display_name}
        )
        if not created and role is not None and author.role != role:
            author.role = role
            author.save(update_fields=["role"])
    return author


def author_on_login(*, user) -> Author | None:
    """On log-in: make sure a superuser has a newsroom record (the name on
    bylines). Others get theirs from ``author_ensure`` or a team; a person
    with neither stays a reader (no role is granted here)."""
    if not user.is_superuser:
        return None
    author, _ = Author.objects.get_or_create(user=user, defaults={"role": Role.EDITOR})
    return author


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """A new API token; the plain key is returned this once and never stored."""
    name = clean_text(name or "", field="name").strip()
    key = "lb_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=_hash_key(key))
    return token, key


def token_user(key: str):
    """The active user a bearer key belongs to, or None."""
    if not key or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash_key(key), revoked=False, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)


def team_set_member(*, blog: Blog, user, member, role: str) -> Membership:
    require(permissions.can_manage_team, user, blog, "Only editors can manage the team.")
    if role not in Role.values:
        raise Invalid(f"Unknown role '{role}'.", field="role")
    # Someone new to the newsroom gets the least newsroom-wide role: the team
    # role applies to this blog only (a contributor here must not be able to
    # publish on every other blog through the default reporter role).
    Author.objects.get_or_create(user=member, defaults={"role": Role.CONTRIBUTOR})
    membership, _ = Membership.objects.update_or_create(blog=blog, user=member, defaults={"role": role})
    permissions.forget_roles(member)
    return membership


def team_remove_member(*, blog: Blog, user, member) -> None:
    require(permissions.can_manage_team, user, blog, "Only editors can manage the team.")
    Membership.objects.filter(blog=blog, user=member).delete()
    permissions.forget_roles(member)
