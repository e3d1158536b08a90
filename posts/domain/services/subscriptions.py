"""Readers' Web Push subscriptions."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from posts.domain.destinations import check_url
from posts.domain.errors import Conflict, ErrorCode, Invalid
from posts.domain.models import (
    Blog,
    PushSubscription,
)


def push_subscribe(*, blog: Blog, endpoint: str, p256dh: str, auth: str):
    """A reader's browser opts in to the blog's key events and closing note,
    and, on a blog scheduled to open, to its start (``blog.opened``).

    Returns ``(subscription, created)``. The endpoint is called by our
    workers, so it gets the same destination guard as webhook URLs.
    """
    import base64
    import binascii

    if blog.status != Blog.Status.LIVE and not blog.is_upcoming:
        raise Conflict(_("This blog is not live; there is nothing to be notified of."), code=ErrorCode.BLOG_NOT_LIVE)
    endpoint = check_url(endpoint, field="endpoint")
    if not endpoint.startswith("https://") and not settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE:
        raise Invalid("A push endpoint must be https.", field="endpoint")
    for name, value, size in (("p256dh", p256dh, 65), ("auth", auth, 16)):
        try:
            raw = base64.urlsafe_b64decode((value or "") + "=" * (-len(value or "") % 4))
        except (binascii.Error, ValueError, TypeError) as exc:
            raise Invalid(f"keys.{name} is not base64url.", field=f"keys.{name}") from exc
        if len(raw) != size:
            raise Invalid(f"keys.{name} must be {size} bytes.", field=f"keys.{name}")
    with transaction.atomic():
        subscription, created = PushSubscription.objects.update_or_create(
            blog=blog, endpoint=endpoint,
            defaults={"p256dh": p256dh, "auth": auth},
            create_defaults={"p256dh": p256dh, "auth": auth, "last_event_id": blog.events.order_by("-pk").values_list("pk", flat=True).first() or 0},
        )
    return subscription, created


def push_unsubscribe(*, blog: Blog, endpoint: str) -> bool:
    deleted, _ = PushSubscription.objects.filter(blog=blog, endpoint=endpoint).delete()
    return bool(deleted)
