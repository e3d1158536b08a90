"""API shapes (django-ninja / pydantic).

Output shapes of blogs, entries and events are the domain's
(:mod:`posts.domain.events`, built by :mod:`posts.domain.serializers`). Input shapes
forbid unknown fields and nulls where a value is required, so a typo in a
partner's request is a 422 that names the field rather than a silent no-op.
The document states every limit the server enforces (tests/test_api_fuzz.py
holds it to that); a body over its ``maxLength`` is refused with 413 by the
services, so that one limit is stated here but not checked by pydantic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Schema
from pydantic import ConfigDict, Field, StringConstraints

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
from posts.domain.selectors import MAX_PAGE_SIZE

# Text rules the services apply, stated for the schema.
NOT_BLANK = r"\S"  # at least one character that is not white space
SLUG = r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$"
Body = Annotated[str, Field(
    min_length=1, pattern=NOT_BLANK, json_schema_extra={"maxLength": settings.LIVEBLOG_MAX_BODY_CHARS},
    description=f"Markdown; over {settings.LIVEBLOG_MAX_BODY_CHARS:,} characters is refused with 413.",
)]
Standfirst = Annotated[str, Field(json_schema_extra={"maxLength": settings.LIVEBLOG_MAX_BODY_CHARS},
                                  description="Markdown; too long is refused with 413.")]
Headline = Annotated[str, Field(max_length=settings.LIVEBLOG_MAX_HEADLINE_CHARS)]
Title = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
Slug = Annotated[str, Field(max_length=80, pattern=SLUG)]
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]
Since = Annotated[int, Field(ge=0)]
Version = Annotated[int, Field(ge=1)]
EntryKind = Literal["update", "summary", "closing"]
EntryStatus = Literal["draft", "scheduled", "published", "deleted"]
BlogStatus = Literal["draft", "live", "closed"]

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
    seq: Since
    events: list[EventMessage]
    has_more: bool
    push: Literal["sse", "poll"] = Field(description="sse: hold a stream; poll: poll this endpoint instead")
    poll_ms: int = Field(description="how often a reader should poll, in milliseconds")


class ErasureOut(Schema):
    entry_id: int
    blog: str
    erased_by: str
    erased_at: str
    reason: str


class ErrorOut(Schema):
    detail: str
    code: ErrorCode
    field: str | None = None
    current: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None


# --- In ------------------------------------------------------------------------


class _Input(Schema):
    model_config = ConfigDict(extra="forbid")


# Usernames of the byline, team members only (422 ``not_team_member``);
# empty or absent: the writer.
Bylines = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=150)]], Field(max_length=20)]


class BlogCreateIn(_Input):
    title: Title
    standfirst: Standfirst = ""
    status: Literal["draft", "live"] = "draft"
    slug: Slug | None = None
    language: str | None = Field(None, json_schema_extra={"maxLength": 35}, description="BCP 47 tag, e.g. 'en-GB'; default the site's.")
    opens_at: datetime | None = Field(None, description="A draft opens by itself then; its page counts down.")
    questions_enabled: bool = False


# PATCH changes only the fields sent: no default is shown or applied.
UNSENT = Field(default_factory=str)


class BlogPatchIn(_Input):
    title: Title = UNSENT
    standfirst: Standfirst = UNSENT
    status: Literal["draft", "live"] = "live"
    coverage_start: datetime | None = None
    language: str = Field("", json_schema_extra={"maxLength": 35}, description="BCP 47 tag, e.g. 'en-GB'.")
    opens_at: datetime | None = Field(None, description="Schedule a draft to open (null: unschedule).")
    questions_enabled: bool = Field(False, description="Readers may send questions.")
    show_reader_count: bool = Field(False, description='Show "N reading now" on the public page.')


class BlogCloseIn(_Input):
    body: Body
    headline: Headline = ""


class FactCheckIn(_Input):
    claim: str
    claimant: str
    claim_url: str | None = None
    claim_date: date | None = None
    verdict: str = Field(description="One of the newsroom's labels (LIVEBLOG_FACT_CHECK_VERDICTS).")


class PollIn(_Input):
    question: str = Field(min_length=1, max_length=300)
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(min_length=2, max_length=6)
    closes_at: datetime | None = Field(None, description="Optional: when voting stops (a future time with a zone).")


class EntryCreateIn(_Input):
    body: Body
    headline: Headline = ""
    kind: EntryKind = "update"
    key_event: bool = False
    pinned: bool = False
    status: Literal["draft", "scheduled", "published"] | None = None
    publish_at: datetime | None = None
    fact_check: FactCheckIn | None = None
    poll: PollIn | None = None
    authors: Bylines | None = None
    image: int | None = Field(None, description="A photo's id (POST /api/media), or null.")


class EntryPatchIn(_Input):
    version: Version
    body: Body = UNSENT
    headline: Headline = UNSENT
    kind: EntryKind = "update"
    key_event: bool = False
    pinned: bool = False
    status: Literal["draft", "scheduled", "published"] = "published"
    publish_at: datetime | None = None
    fact_check: FactCheckIn | None = Field(None, description="null removes the fact check.")
    poll: PollIn | None = Field(None, description="Adds or replaces the poll (its options only until someone votes); null removes it.")
    authors: Bylines | None = None
    image: int | None = Field(None, description="A photo's id (POST /api/media); null removes the photo.")


class ErasureIn(_Input):
    reason: str


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
