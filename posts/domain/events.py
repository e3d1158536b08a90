"""The typed contract of the event log: one schema per ``Event.Type`` (a
union discriminated on ``type``), the same for ``/updates``, SSE ``data``,
webhook ``data`` and the OpenAPI document. Reads stay pre-rendered bytes;
conformance is proven by tests (tests/test_event_schemas.py), never checked
at run time. See docs/events.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

URL = Field(json_schema_extra={"format": "uri"})


class Shape(BaseModel):
    """A public JSON shape: unknown keys are drift, not data."""

    model_config = ConfigDict(extra="forbid")


class AuthorShape(Shape):
    name: str


class FactCheckShape(Shape):
    claim: str
    claimant: str
    claim_url: str | None
    claim_date: str | None = Field(description="YYYY-MM-DD")
    verdict: str = Field(description="One of the newsroom's labels (LIVEBLOG_FACT_CHECK_VERDICTS), best first.")


class RenditionShape(Shape):
    width: int = Field(ge=1)
    type: Literal["image/webp", "image/jpeg"]
    url: str = URL


class MediaShape(Shape):
    """A photo (docs/media.md): the original (EXIF removed) and its renditions,
    which a task adds shortly after upload (empty until then, and for an animation)."""

    id: int
    url: str = URL
    type: Literal["image/jpeg", "image/png", "image/webp", "image/gif"]
    alt: str
    caption: str
    credit: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    renditions: list[RenditionShape]
class PollOptionShape(Shape):
    id: int
    label: str
    votes: int = Field(ge=0, description="Counted when this shape was made; live tallies travel as poll.updated.")


class PollShape(Shape):
    """A reader poll in an entry (docs/polls.md)."""

    id: int
    question: str
    options: list[PollOptionShape] = Field(min_length=2, max_length=6)
    total: int = Field(ge=0)
    closes_at: datetime | None
    closed: bool


class EntryShape(Shape):
    """An entry as readers, partners and the API see it (serializers.entry_dict)."""

    id: int
    kind: Literal["update", "summary", "closing"]
    headline: str
    summary_text: str = Field(description="The headline, else the body as plain text cut to ~80 characters.")
    body: str
    body_html: str
    authors: list[AuthorShape]
    status: Literal["draft", "scheduled", "published", "deleted"]
    published_at: datetime | None
    updated_at: datetime | None
    key_event: bool
    pinned: bool
    version: int = Field(ge=1)
    url: str = URL
    fact_check: FactCheckShape | None
    image: MediaShape | None = Field(None, description="The entry's photo, or null (absent in events written before photos).")
    poll: PollShape | None


class EntryTombstone(Shape):
    """What stands in for a deleted entry anywhere it was published before."""

    id: int
    deleted: Literal[True]


class KeyEventShape(Shape):
    id: int
    headline: str
    summary_text: str
    published_at: datetime | None
    url: str = URL


class BlogSummaryShape(Shape):
    slug: str
    title: str
    standfirst: str
    standfirst_html: str
    status: Literal["draft", "live", "closed"]
    coverage_start: datetime | None
    coverage_end: datetime | None
    language: str
    opens_at: datetime | None = Field(description="A draft blog scheduled to open then (null otherwise).")
    questions_enabled: bool = Field(description="Readers may send questions (POST /live/<slug>/questions).")
    show_reader_count: bool = Field(description='The page shows "N reading now".')
    url: str = URL
    seq: int = Field(ge=0)


class BlogShape(BlogSummaryShape):
    pinned: EntryShape | EntryTombstone | None
    key_events: list[KeyEventShape]


class _Event(Shape):
    seq: int = Field(ge=1, description="The blog's event number: SSE id, `since` cursor, webhook order.")


class EntryPublished(_Event):
    type: Literal["entry.published"]
    entry: EntryShape | EntryTombstone


class EntryUpdated(_Event):
    type: Literal["entry.updated"]
    entry: EntryShape | EntryTombstone


class EntryDeleted(_Event):
    """Ids only: a takedown carries no text (docs/takedown.md)."""

    type: Literal["entry.deleted"]
    entry: EntryTombstone


class BlogUpdated(_Event):
    type: Literal["blog.updated"]
    blog: BlogShape


class BlogClosed(_Event):
    type: Literal["blog.closed"]
    blog: BlogShape


class BlogOpened(_Event):
    """A blog scheduled to open went live (by the clock or an editor)."""

    type: Literal["blog.opened"]
    blog: BlogShape


EventMessage = Annotated[
    EntryPublished | EntryUpdated | EntryDeleted | BlogUpdated | BlogClosed | BlogOpened,
    Field(discriminator="type"),
]
"""One event on the wire (``Event.message``)."""

SCHEMAS: dict[str, type[_Event]] = {
    "entry.published": EntryPublished,
    "entry.updated": EntryUpdated,
    "entry.deleted": EntryDeleted,
    "blog.updated": BlogUpdated,
    "blog.closed": BlogClosed,
    "blog.opened": BlogOpened,
}

event_message = TypeAdapter(EventMessage)


# --- Live-only messages: no seq, outside the event log ---------------------------
#
# Sent to open readers as SSE messages without an ``id:`` (so a reader's
# resume point never moves), never stored, replayed or cached against.


class PollTallyOption(Shape):
    id: int
    votes: int = Field(ge=0)


class PollTally(Shape):
    id: int
    entry_id: int
    options: list[PollTallyOption]
    total: int = Field(ge=0)
    closed: bool


class PollUpdated(Shape):
    """A poll's tallies, at most once a second per poll while votes come in;
    also to webhook partners who list ``poll.updated`` in their event types."""

    type: Literal["poll.updated"]
    blog: str
    poll: PollTally


class ReadersNow(Shape):
    """How many are reading the blog now (only where its editors show it)."""

    type: Literal["readers.now"]
    readers: int = Field(ge=0)


LIVE_SCHEMAS: dict[str, type[Shape]] = {"poll.updated": PollUpdated, "readers.now": ReadersNow}

# Partners may subscribe to these besides the event log's types; an empty
# list of event types does not include them (they are frequent).
OPT_IN_WEBHOOK_TYPES = ("poll.updated",)

live_message = TypeAdapter(Annotated[PollUpdated | ReadersNow, Field(discriminator="type")])


class WebhookBody(Shape):
    """The JSON body POSTed to partners (Standard Webhooks)."""

    type: str
    timestamp: datetime
    blog: str
    data: Annotated[
        EntryPublished | EntryUpdated | EntryDeleted | BlogUpdated | BlogClosed | BlogOpened | PollUpdated,
        Field(discriminator="type"),
    ]
