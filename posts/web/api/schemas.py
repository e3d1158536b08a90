"""API shapes (django-ninja / pydantic).

Output shapes mirror :mod:`posts.serializers` (which builds them, so events
and replies agree); they are here for the OpenAPI document. Input shapes
forbid unknown fields and nulls where a value is required, so a typo in a
partner's request is a 422 that names the field rather than a silent no-op.
The document states every limit the server enforces (tests/test_api_fuzz.py
holds it to that); a body over its ``maxLength`` is refused with 413 by the
services, so that one limit is stated here but not checked by pydantic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Schema
from pydantic import ConfigDict, Field

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


class AuthorOut(Schema):
    name: str


class EntryOut(Schema):
    id: int
    kind: EntryKind
    headline: str
    body: str
    body_html: str
    authors: list[AuthorOut]
    status: EntryStatus
    published_at: datetime | None
    updated_at: datetime | None
    key_event: bool
    pinned: bool
    version: Version
    url: str = Field(json_schema_extra={"format": "uri"})


class KeyEventOut(Schema):
    id: int
    headline: str
    published_at: datetime | None
    url: str = Field(json_schema_extra={"format": "uri"})


class BlogSummaryOut(Schema):
    slug: str
    title: str
    standfirst: str
    standfirst_html: str
    status: BlogStatus
    coverage_start: datetime | None
    coverage_end: datetime | None
    url: str = Field(json_schema_extra={"format": "uri"})
    seq: Since


class BlogOut(BlogSummaryOut):
    pinned: EntryOut | None
    key_events: list[KeyEventOut]


class BlogListOut(Schema):
    items: list[BlogSummaryOut]


class EntriesPageOut(Schema):
    items: list[EntryOut]
    next: str | None


class UpdatesOut(Schema):
    seq: Since
    events: list[dict[str, Any]]
    has_more: bool


class ErrorOut(Schema):
    detail: str
    code: str | None = None
    field: str | None = None
    current: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None


# --- In ------------------------------------------------------------------------


class _Input(Schema):
    model_config = ConfigDict(extra="forbid")


class BlogCreateIn(_Input):
    title: Title
    standfirst: Standfirst = ""
    status: Literal["draft", "live"] = "draft"
    slug: Slug | None = None


# PATCH changes only the fields sent: no default is shown or applied.
UNSENT = Field(default_factory=str)


class BlogPatchIn(_Input):
    title: Title = UNSENT
    standfirst: Standfirst = UNSENT
    status: Literal["draft", "live"] = "live"
    coverage_start: datetime | None = None


class BlogCloseIn(_Input):
    body: Body
    headline: Headline = ""


class EntryCreateIn(_Input):
    body: Body
    headline: Headline = ""
    kind: EntryKind = "update"
    key_event: bool = False
    pinned: bool = False
    status: Literal["draft", "scheduled", "published"] | None = None
    publish_at: datetime | None = None


class EntryPatchIn(_Input):
    version: Version
    body: Body = UNSENT
    headline: Headline = UNSENT
    kind: EntryKind = "update"
    key_event: bool = False
    pinned: bool = False
    status: Literal["draft", "scheduled", "published"] = "published"
    publish_at: datetime | None = None
