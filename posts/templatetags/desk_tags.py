"""Desk template tags."""

from __future__ import annotations

import secrets

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def idempotency_field() -> str:
    """A fresh Idempotency-Key for this rendering of a form: sending it twice
    (a double click, a retry after a timeout) writes once
    (posts/web/api/idempotency.py). The desk's script renews it after each
    answer."""
    return format_html(
        '<input type="hidden" name="idempotency_key" value="{}" data-idempotency-key>', secrets.token_urlsafe(18)
    )
