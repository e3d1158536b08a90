"""Who may do what. Checked inside the services, so every surface (API,
desk, admin, commands) enforces the same rules.

A user's role on a blog is their team role there if they are on the team,
else their newsroom-wide role (:class:`posts.models.Author`). Superusers are
editors everywhere. Users with no Author record are readers only.
"""

from __future__ import annotations

from .models import Author, Blog, Membership, Role


def role_for(user, blog: Blog | None = None) -> str | None:
    """The user's role on ``blog`` (or newsroom-wide with no blog).

    Remembered on the user object, which lives for one request, so a
    service that checks twice queries once; :func:`forget_roles` clears it
    when a role changes.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.EDITOR
    key = blog.pk if blog is not None else None
    memo = user.__dict__.setdefault("_liveblog_roles", {})
    if key not in memo:
        memo[key] = _lookup_role(user, blog)
    return memo[key]


def _lookup_role(user, blog: Blog | None) -> str | None:
    if blog is not None and blog.pk is not None:
        membership = Membership.objects.filter(blog=blog, user=user).only("role").first()
        if membership is not None:
            return membership.role
    try:
        return user.author.role  # cached on the user: bylines need it next
    except Author.DoesNotExist:
        return None


def forget_roles(user) -> None:
    user.__dict__.pop("_liveblog_roles", None)


def can_write(user, blog: Blog | None) -> bool:
    """Draft entries (every role)."""
    return role_for(user, blog) is not None


def can_publish(user, blog: Blog | None) -> bool:
    """Publish, schedule, edit others' entries, delete, pin, key events."""
    return role_for(user, blog) in {Role.EDITOR, Role.REPORTER}


def can_edit_blog(user, blog: Blog | None) -> bool:
    """Create, open, close and reopen blogs; manage teams, partners; approve drafts."""
    return role_for(user, blog) == Role.EDITOR


def has_any_role(user) -> bool:
    """A newsroom role, or a place on some blog's team."""
    return can_write(user, None) or Membership.objects.filter(user=user).exists()
