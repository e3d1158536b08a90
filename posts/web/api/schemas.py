"""API shapes (django-ninja / pydantic).

Output shapes of blogs, entries and events are the domain's
(:mod:`posts.domain.events`, built by :mod:`posts.domain.serializers`). Input shapes
forbid unknown fields and nulls where a value is required, so a typo in a
partner's request is a 422 that names the field rather than a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict

from posts.domain.errors import ErrorCode
from posts.domain.events import (
    AuthorShape,
    BlogShape,
    BlogSummaryShape,
    EntryShape,
    EventMessage,
    KeyEventShape,
    WebhookBody,
)

# --- Out -----------------------------------------------------------------------


# Entry and blog shapes are the domain's (posts/domain/events.py), so an
# entry reads the same in a reply, an event and a webhook.
AuthorOut = AuthorShape
EntryOut = EntryShape
KeyEventOut = KeyEventShape
BlogSummaryOut = BlogSummaryShape
BlogOut = BlogShape


class BlogListOut(Schema):
    items: list[BlogSummaryOut]


class EntriesPageOut(Schema):
    items: list[EntryOut]
    next: str | None


class UpdatesOut(Schema):
    seq: int
    events: list[EventMessage]
    has_more: bool


class ErrorOut(Schema):
    detail: str
    code: ErrorCode
    field: str | None = None
    current: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None


# --- In ------------------------------------------------------------------------


class _Input(Schema):
    model_config = ConfigDict(extra="forbid")


class BlogCreateIn(_Input):
    title: str
    standfirst: str = ""
    status: Literal["draft", "live"] = "draft"
    slug: str | None = None


class BlogPatchIn(_Input):
    title: str = ""
    standfirst: str = ""
    status: Literal["draft", "live"] = "live"
    coverage_start: datetime | None = None


class BlogCloseIn(_Input):
    body: str
    headline: str = ""


class EntryCreateIn(_Input):
    body: str
    headline: str = ""
    kind: Literal["update", "summary", "closing"] = "update"
    key_event: bool = False
    pinned: bool = False
    status: Literal["draft", "scheduled", "published"] | None = None
    publish_at: datetime | None = None


class EntryPatchIn(_Input):
    version: int
    body: str = ""
    headline: str = ""
    kind: Literal["update", "summary", "closing"] = "update"
    key_event: bool = False
    pinned: bool = False
    status: Literal["draft", "scheduled", "published"] = "published"
    publish_at: datetime | None = None


def webhooks_document() -> dict:
    """OpenAPI 3.1 ``webhooks``: what partners receive, one POST per event."""
    schema = WebhookBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # the same shapes are components of the document
    return {
        "event": {
            "post": {
                "summary": "One event (Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature)",
                "requestBody": {"content": {"application/json": {"schema": schema}}},
                "responses": {"2XX": {"description": "Received; any other answer is retried with backoff."}},
            }
        }
    }
