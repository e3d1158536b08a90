"""Webhook partners: register, change, pause, resume (editors only)."""

from __future__ import annotations

import base64
import secrets

from django.db import transaction
from django.utils import timezone

from posts.domain import permissions
from posts.domain.destinations import check_url
from posts.domain.errors import Invalid, NotFound
from posts.domain.events import OPT_IN_WEBHOOK_TYPES
from posts.domain.models import (
    Blog,
    Event,
    WebhookDelivery,
    WebhookPartner,
)
from posts.domain.text import clean_text

from .outbox import UNSET, require


def generate_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _clean_partner_fields(*, url=UNSET, blogs=UNSET, event_types=UNSET, name=UNSET) -> dict:
    fields: dict = {}
    if name is not UNSET:
        name = clean_text(name or "", field="name").strip()
        if len(name) > 120:
            raise Invalid("The name is longer than 120 characters.", field="name")
        fields["name"] = name
    if event_types is not UNSET:
        event_types = list(event_types or [])
        known = [*Event.Type.values, *OPT_IN_WEBHOOK_TYPES]
        unknown = [t for t in event_types if t not in known]
        if unknown:
            raise Invalid(
                f"Unknown event type '{unknown[0]}'; use any of {', '.join(known)}.",
                field="event_types",
            )
        fields["event_types"] = sorted(set(event_types))
    if blogs is not UNSET:
        slugs = [b.slug if isinstance(b, Blog) else b for b in (blogs or [])]
        found = list(Blog.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {b.slug for b in found})
        if missing:
            raise NotFound(f"No blog '{missing[0]}'.", field="blogs")
        fields["blogs"] = found
    if url is not UNSET:  # last: it resolves the host
        fields["url"] = check_url(url)
    return fields


def webhook_partner_create(*, user, url: str, blogs=(), event_types=(), name: str = "", active: bool = True):
    """Register a partner; returns ``(partner, secret)`` — the secret is shown
    to the caller this once (it is stored to sign with, never listed)."""
    require(permissions.can_manage_partners, user, None, "Only editors can manage webhook partners.")
    fields = _clean_partner_fields(url=url, blogs=blogs, event_types=event_types, name=name)
    blog_rows = fields.pop("blogs")
    secret = generate_secret()
    with transaction.atomic():
        partner = WebhookPartner.objects.create(
            secret=secret, active=bool(active),
            created_by=user if getattr(user, "is_authenticated", False) else None, **fields
        )
        partner.blogs.set(blog_rows)
    return partner, secret


def webhook_partner_update(*, partner, user, url=UNSET, blogs=UNSET, event_types=UNSET, name=UNSET, active=UNSET):
    require(permissions.can_manage_partners, user, None, "Only editors can manage webhook partners.")
    fields = _clean_partner_fields(url=url, blogs=blogs, event_types=event_types, name=name)
    blog_rows = fields.pop("blogs", UNSET)
    with transaction.atomic():
        partner = WebhookPartner.objects.select_for_update().get(pk=partner.pk)
        for key, value in fields.items():
            setattr(partner, key, value)
        if active is not UNSET:
            partner.active = bool(active)
        partner.save()
        if blog_rows is not UNSET:
            partner.blogs.set(blog_rows)
    return partner


def webhook_partner_pause(*, partner, reason: str, user=None):
    """Stop deliveries to a partner (by an editor, or automatically)."""
    if user is not None:
        require(permissions.can_manage_partners, user, None, "Only editors can manage webhook partners.")
    with transaction.atomic():
        partner = WebhookPartner.objects.select_for_update().get(pk=partner.pk)
        if partner.paused_at is None:
            partner.paused_at = timezone.now()
            partner.pause_reason = reason
            partner.save(update_fields=["paused_at", "pause_reason"])
    return partner


def webhook_partner_resume(*, partner, user):
    """Deliver again: owed deliveries (kept while paused) become due now."""
    require(permissions.can_manage_partners, user, None, "Only editors can manage webhook partners.")
    with transaction.atomic():
        partner = WebhookPartner.objects.select_for_update().get(pk=partner.pk)
        partner.paused_at = None
        partner.pause_reason = ""
        partner.consecutive_failures = 0
        partner.failing_since = None
        partner.active = True
        partner.save()
        WebhookDelivery.objects.filter(
            partner=partner, status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]
        ).exclude(next_attempt_at__isnull=True).update(next_attempt_at=timezone.now())
    return partner


def webhook_partner_delete(*, partner, user) -> None:
    require(permissions.can_manage_partners, user, None, "Only editors can manage webhook partners.")
    partner.delete()
