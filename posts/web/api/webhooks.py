"""Webhook partners under ``/api/webhooks`` (editors only, bearer token):
register, list with health, change, pause/resume, delete, delivery log.
See docs/events.md#webhook-partners-api."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.db.models import Prefetch
from ninja import Field, Query, Router, Schema, Status

from posts.domain import permissions, services
from posts.domain.errors import NotAllowed, NotFound
from posts.domain.events import OPT_IN_WEBHOOK_TYPES
from posts.domain.models import Event, WebhookAttempt, WebhookDelivery, WebhookPartner
from posts.web.api.schemas import ErrorOut
from posts.web.auth import token_auth

router = Router(tags=["webhooks"], auth=token_auth)

# The errors each operation answers (all JSON ErrorOut).
_READ = {401: ErrorOut, 403: ErrorOut}
_ONE = {**_READ, 404: ErrorOut}
_WRITE = {**_ONE, 400: ErrorOut, 413: ErrorOut, 422: ErrorOut}
# An enum in the schema, kept in step; poll.updated only for partners who list it.
EVENT_TYPES = Literal.__getitem__((*Event.Type.values, *OPT_IN_WEBHOOK_TYPES))


class PartnerIn(Schema):
    url: str = Field(max_length=500, json_schema_extra={"format": "uri"})
    blogs: list[str] = []
    event_types: list[EVENT_TYPES] = []
    name: str = Field("", max_length=120)

    model_config = {"extra": "forbid"}


class PartnerPatchIn(Schema):
    url: str | None = Field(None, max_length=500, json_schema_extra={"format": "uri"})
    blogs: list[str] | None = None
    event_types: list[EVENT_TYPES] | None = None
    name: str | None = Field(None, max_length=120)
    active: bool | None = None

    model_config = {"extra": "forbid"}


class PauseIn(Schema):
    reason: str = Field("", max_length=500)

    model_config = {"extra": "forbid"}


class PartnerOut(Schema):
    id: int
    name: str
    url: str
    blogs: list[str]
    event_types: list[str]
    active: bool
    paused: bool
    paused_at: datetime | None
    pause_reason: str
    consecutive_failures: int
    failing_since: datetime | None
    last_success_at: datetime | None
    created_at: datetime


class PartnerCreatedOut(PartnerOut):
    secret: str


class AttemptOut(Schema):
    at: datetime
    status_code: int | None
    error: str
    duration_ms: int


class DeliveryOut(Schema):
    id: int
    msg_id: str
    event_seq: int | None
    event_type: str
    blog: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut]


def _partner_out(partner: WebhookPartner) -> dict:
    return {
        "id": partner.pk,
        "name": partner.name,
        "url": partner.url,
        "blogs": sorted(b.slug for b in partner.blogs.all()),
        "event_types": list(partner.event_types or []),
        "active": partner.active,
        "paused": partner.paused_at is not None,
        "paused_at": partner.paused_at,
        "pause_reason": partner.pause_reason,
        "consecutive_failures": partner.consecutive_failures,
        "failing_since": partner.failing_since,
        "last_success_at": partner.last_success_at,
        "created_at": partner.created_at,
    }


def _require_editor(request) -> None:
    if not permissions.can_manage_partners(request.user, None):
        raise NotAllowed("Only editors can manage webhook partners.")


def _partner(request, partner_id: int) -> WebhookPartner:
    _require_editor(request)
    partner = WebhookPartner.objects.prefetch_related("blogs").filter(pk=partner_id).first()
    if partner is None:
        raise NotFound(f"No webhook partner {partner_id}.")
    return partner


@router.post("", response={201: PartnerCreatedOut, **_WRITE}, summary="Register a webhook partner")
def create_partner(request, payload: PartnerIn):
    partner, secret = services.webhook_partner_create(
        user=request.user, url=payload.url, blogs=payload.blogs,
        event_types=payload.event_types, name=payload.name,
    )
    return Status(201, {**_partner_out(partner), "secret": secret})


@router.get("", response={200: list[PartnerOut], **_READ}, summary="List webhook partners")
def list_partners(request):
    _require_editor(request)
    return [_partner_out(p) for p in WebhookPartner.objects.prefetch_related("blogs").order_by("pk")]


@router.get("/{int:partner_id}", response={200: PartnerOut, **_ONE})
def get_partner(request, partner_id: int):
    return _partner_out(_partner(request, partner_id))


@router.patch("/{int:partner_id}", response={200: PartnerOut, **_WRITE})
def patch_partner(request, partner_id: int, payload: PartnerPatchIn):
    partner = _partner(request, partner_id)
    changes = payload.model_dump(exclude_unset=True)
    partner = services.webhook_partner_update(partner=partner, user=request.user, **changes)
    return _partner_out(partner)


@router.post("/{int:partner_id}/pause", response={200: PartnerOut, **_WRITE})
def pause_partner(request, partner_id: int, payload: PauseIn | None = None):
    partner = _partner(request, partner_id)
    reason = (payload.reason if payload else "") or f"Paused by {request.user.get_username()}."
    return _partner_out(services.webhook_partner_pause(partner=partner, user=request.user, reason=reason))


@router.post("/{int:partner_id}/resume", response={200: PartnerOut, **_ONE})
def resume_partner(request, partner_id: int):
    partner = _partner(request, partner_id)
    return _partner_out(services.webhook_partner_resume(partner=partner, user=request.user))


@router.delete("/{int:partner_id}", response={204: None, **_ONE})
def delete_partner(request, partner_id: int):
    services.webhook_partner_delete(partner=_partner(request, partner_id), user=request.user)
    return Status(204, None)


@router.get("/{int:partner_id}/deliveries", response={200: list[DeliveryOut], **_ONE, 422: ErrorOut})
def partner_deliveries(request, partner_id: int, limit: int = Query(50, ge=1, le=200)):
    partner = _partner(request, partner_id)
    rows = (
        WebhookDelivery.objects.filter(partner=partner)
        .select_related("event__blog")
        .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-at")))
        .order_by("-created_at", "-pk")[:limit]
    )
    return [
        {
            "id": d.pk, "msg_id": d.msg_id,
            # A poll.updated delivery has no event in the log (docs/polls.md).
            "event_seq": d.event.seq if d.event else None,
            "event_type": d.event.type if d.event else d.payload["type"],
            "blog": d.event.blog.slug if d.event else d.payload["blog"], "status": d.status, "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at, "last_status_code": d.last_status_code,
            "last_error": d.last_error, "delivered_at": d.delivered_at, "created_at": d.created_at,
            "attempt_log": [
                {"at": a.at, "status_code": a.status_code, "error": a.error, "duration_ms": a.duration_ms}
                for a in d.attempt_log.all()
            ],
        }
        for d in rows
    ]
