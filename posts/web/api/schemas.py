"""API shapes (django-ninja / pydantic).

Output shapes mirror :mod:`posts.serializers` (which builds them, so events
and replies agree); they are here for the OpenAPI document. Input shapes
forbid unknown fields and nulls where a value is required, so a typo in a
partner's request is a 422 that names the field rather than a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict

# --- Out -----------------------------------------------------------------------


class AuthorOut(Schema):
    name: str


class EntryOut(Schema):
    id: int
    kind: Literal["update", "summary", "closing"]
    headline: str
    body: str
    body_html: str
    authors: list[AuthorOut]
    status: str
    published_at: str | None
    updated_at: str | None
    key_event: bool
    pinned: bool
    version: int
    url: str


class KeyEventOut(Schema):
    id: int
    headline: str
    published_at: str | None
    url: str


class BlogSummaryOut(Schema):
    slug: str
    title: str
    standfirst: str
    standfirst_html: str
    status: str
    coverage_start: str | None
    coverage_end: str | None
    url: str
    seq: int


class BlogOut(BlogSummaryOut):
    pinned: EntryOut | None
    key_events: list[KeyEventOut]


class BlogListOut(Schema):
    items: list[BlogSummaryOut]


class EntriesPageOut(Schema):
    items: list[EntryOut]
    next: str | None


class UpdatesOut(Schema):
    seq: int
    events: list[dict[str, Any]]
    has_more: bool


class ErasureOut(Schema):
    entry_id: int
    blog: str
    erased_by: str
    erased_at: str
    reason: str


class ErrorOut(Schema):
    detail: str
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


class ErasureIn(_Input):
    reason: str
