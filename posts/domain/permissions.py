"""Who may do what: one table, role x action (:data:`TABLE`), checked inside
the services, so every surface (API, desk, admin, commands) enforces the same
rules. ``tests/test_permissions_table.py`` walks it on every path.

A user's role on a blog is their team role there if they are on the team,
else their newsroom-wide role (:class:`posts.domain.models.Author`). Superusers are
editors everywhere. Users with no Author record are readers only.
"""

from __future__ import annotations

from enum import StrEnum

from .models import Author, Blog, Membership, Role


class Action(StrEnum):
    DRAFT = "draft"
    """Write drafts, edit and delete one's own, submit them for approval."""
    PUBLISH = "publish"
    """Publish and schedule; edit or delete anyone's entry; pin; key events."""
    APPROVE = "approve"
    """Publish (or schedule) a contributor's draft submitted for approval."""
    CLOSE = "close"
    """Close a blog; create, schedule or publish a closing note."""
    MANAGE_BLOG = "manage_blog"
    """Create blogs; edit, open and reopen them."""
    MANAGE_TEAM = "manage_team"
    """Add people to a blog's team, change their role, remove them."""
    MANAGE_PARTNERS = "manage_partners"
    """Register, edit, pause and resume webhook partners."""


TABLE: dict[str, frozenset[Action]] = {
    Role.EDITOR: frozenset(Action),
    Role.REPORTER: frozenset({Action.DRAFT, Action.PUBLISH}),
    Role.CONTRIBUTOR: frozenset({Action.DRAFT}),
}
"""The rules. Readers (no role) may do none of these."""


def may(user, action: Action, blog: Blog | None = None) -> bool:
    """Whether ``user`` may do ``action`` on ``blog`` (newsroom-wide with no blog)."""
    role = role_for(user, blog)
    return role is not None and action in TABLE.get(role, frozenset())


def role_for(user, blog: Blog | None = None) -> str | None:
    """The user's role on ``blog`` (or newsroom-wide with no blog).

    Remembered on the user object, which lives for one request, so a
    service that checks twice queries once; :func:`forget_roles` clears it
    when a role changes. A blog read with the user's ``team_role``
    (selectors.desk_blog) needs no query for it.
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
        read = blog.__dict__.pop("team_role_of", None)  # once: after forget_roles, ask again
        if read is not None and read[0] == user.pk:
            team_role = read[1]
        else:
            membership = Membership.objects.filter(blog=blog, user=user).only("role").first()
            team_role = membership.role if membership is not None else None
        if team_role is not None:
            return team_role
    try:
        return user.author.role  # cached on the user: bylines need it next
    except Author.DoesNotExist:
        return None


def forget_roles(user) -> None:
    user.__dict__.pop("_liveblog_roles", None)


# Named checks the services pass to ``require`` (each one row of the table).


def can_write(user, blog: Blog | None) -> bool:
    return may(user, Action.DRAFT, blog)


def can_publish(user, blog: Blog | None) -> bool:
    return may(user, Action.PUBLISH, blog)


def can_approve(user, blog: Blog | None) -> bool:
    return may(user, Action.APPROVE, blog)


def can_close(user, blog: Blog | None) -> bool:
    return may(user, Action.CLOSE, blog)


def can_edit_blog(user, blog: Blog | None) -> bool:
    return may(user, Action.MANAGE_BLOG, blog)


def can_manage_team(user, blog: Blog | None) -> bool:
    return may(user, Action.MANAGE_TEAM, blog)


def can_manage_partners(user, blog: Blog | None = None) -> bool:
    return may(user, Action.MANAGE_PARTNERS, blog)


def has_any_role(user) -> bool:
    """A newsroom role, or a place on some blog's team."""
    return can_write(user, None) or Membership.objects.filter(user=user).exists()
