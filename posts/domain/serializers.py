"""The public JSON shapes of blogs and entries (see PRODUCT.md).

Used for event payloads as well as API responses, so a webhook, an SSE
message and ``GET /api/...`` describe an entry identically.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.files.storage import storages

from .models import Blog, Entry, Erasure, Media, Poll


def absolute_url(path: str) -> str:
    return f"{settings.LIVEBLOG_SITE_URL}{path}"


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def media_url(name: str) -> str:
    """The absolute URL of a public photo file (the app's, nginx's or the bucket's)."""
    url = storages["default"].url(name)
    return url if url.startswith(("http://", "https://")) else absolute_url(url)


def rendition_dicts(media: Media) -> list[dict]:
    """``[{width, type, url}]``, narrowest first, WebP before JPEG."""
    return [{"width": r["width"], "type": r["type"], "url": media_url(r["name"])} for r in media.renditions]


def share_file(media: Media) -> dict:
    """The one file of a photo handed to feeds, sharing cards, JSON-LD and
    push: the widest JPEG rendition (every reader takes JPEG), else the
    original. ``{url, type, size, width, height}``."""
    jpegs = [r for r in media.renditions if r["type"] == "image/jpeg"]
    if jpegs:
        widest = max(jpegs, key=lambda r: r["width"])
        return {"url": media_url(widest["name"]), "type": "image/jpeg", "size": widest["size"],
                "width": widest["width"], "height": widest["height"]}
    return {"url": media_url(media.file.name), "type": media.content_type, "size": media.size,
            "width": media.width, "height": media.height}


def media_dict(media: Media) -> dict:
    """A photo as the API, events and partners see it (PRODUCT.md, Photos)."""
    return {
        "id": media.pk,
        "url": media_url(media.file.name),
        "type": media.content_type,
        "alt": media.alt,
        "caption": media.caption,
        "credit": media.credit,
        "width": media.width,
        "height": media.height,
        "renditions": rendition_dicts(media),
    }


def entry_dict(entry: Entry) -> dict:
    """Needs ``authors`` prefetched (with ``user``) and ``image`` selected to
    stay query-free per entry."""
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "headline": entry.headline,
        "summary_text": entry.summary_text,
        "body": entry.body,
        "body_html": entry.body_html,
        "authors": [{"name": a.name} for a in entry.byline],
        "status": entry.status,
        "published_at": iso(entry.published_at),
        "updated_at": iso(entry.updated_at),
        "key_event": entry.key_event,
        "pinned": entry.pinned,
        "version": entry.version,
        "url": absolute_url(f"/live/{entry.blog.slug}/entries/{entry.pk}/"),
        "fact_check": entry.fact_check,
        "image": media_dict(entry.image) if entry.image_id else None,
        "poll": poll_dict(poll) if (poll := entry.reader_poll) is not None else None,
    }


def poll_dict(poll: Poll, *, votes: dict[int, int] | None = None) -> dict:
    """A poll as readers and partners see it. ``votes`` (option id → count)
    defaults to the flushed counts: an entry's payload carries the tallies
    as of its writing; live ones come from the poll endpoint and
    ``poll.updated`` (docs/polls.md)."""
    options = list(poll.options.all())
    counts = votes if votes is not None else {o.pk: o.votes for o in options}
    return {
        "id": poll.pk,
        "question": poll.question,
        "options": [{"id": o.pk, "label": o.label, "votes": counts.get(o.pk, 0)} for o in options],
        "total": sum(counts.get(o.pk, 0) for o in options),
        "closes_at": iso(poll.closes_at),
        "closed": poll.is_closed(),
    }


def poll_meta_dict(meta, *, votes: dict[int, int]) -> dict:
    """:func:`poll_dict` from a poll's cached metadata (the vote's answer:
    no database query)."""
    counts = [votes.get(pk, 0) for pk in meta.option_ids]
    return {
        "id": meta.poll_id,
        "question": meta.question,
        "options": [
            {"id": pk, "label": label, "votes": n} for pk, label, n in zip(meta.option_ids, meta.labels, counts, strict=True)
        ],
        "total": sum(counts),
        "closes_at": iso(meta.closes_at),
        "closed": meta.closed,
    }


def poll_tally_dict(poll: Poll, *, votes: dict[int, int], slug: str) -> dict:
    """The ``poll.updated`` live message: tallies only, no seq (docs/events.md)."""
    options = list(poll.options.all())
    return {
        "type": "poll.updated",
        "blog": slug,
        "poll": {
            "id": poll.pk,
            "entry_id": poll.entry_id,
            "options": [{"id": o.pk, "votes": votes.get(o.pk, 0)} for o in options],
            "total": sum(votes.get(o.pk, 0) for o in options),
            "closed": poll.is_closed(),
        },
    }


def key_event_dict(entry: Entry) -> dict:
    return {
        "id": entry.pk,
        "headline": entry.headline,
        "summary_text": entry.summary_text,
        "published_at": iso(entry.published_at),
        "url": absolute_url(f"/live/{entry.blog.slug}/entries/{entry.pk}/"),
    }


def blog_dict(blog: Blog, *, pinned: Entry | None = None, key_events: list[Entry] = ()) -> dict:
    return {
        "slug": blog.slug,
        "title": blog.title,
        "standfirst": blog.standfirst,
        "standfirst_html": blog.standfirst_html,
        "status": blog.status,
        "coverage_start": iso(blog.coverage_start),
        "coverage_end": iso(blog.coverage_end),
        "language": blog.language,
        "opens_at": iso(blog.opens_at),
        "questions_enabled": blog.questions_enabled,
        "show_reader_count": blog.show_reader_count,
        "url": absolute_url(f"/live/{blog.slug}/"),
        "seq": blog.last_seq,
        "pinned": entry_dict(pinned) if pinned is not None else None,
        "key_events": [key_event_dict(e) for e in key_events],
    }


def erasure_dict(erasure: Erasure) -> dict:
    """The audit record of a legal erase (no text of the entry)."""
    return {
        "entry_id": erasure.entry_id,
        "blog": erasure.blog_slug,
        "erased_by": erasure.erased_by_name,
        "erased_at": iso(erasure.erased_at),
        "reason": erasure.reason,
    }
