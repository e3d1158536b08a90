"""Social embeds: ask for an entry's embeds to be captured after it is
saved, and store what was captured (docs/embeds.md).

The capture itself (oEmbed and thumbnail requests through the guarded
client) is delivery's ``capture_embeds_task``, handed off by name after
commit; it hands its findings back to ``store_embeds_task``
(posts/domain/tasks.py), which calls :func:`entry_embeds_capture`.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from liveblog.metrics import timed_service
from posts.domain import embeds
from posts.domain.errors import Invalid
from posts.domain.models import EmbedPreview, Entry, Event
from posts.domain.rendering import embed_urls
from posts.domain.text import clean_text

from ._writing import rendered_body
from .outbox import HANDOFF_RETRY_POLICY, entry_event, lock_blog

log = logging.getLogger(__name__)

# Registered by posts.delivery.tasks (imported in PostsConfig.ready).
CAPTURE_TASK = "posts.delivery.tasks.capture_embeds_task"


def previews_for(entry: Entry) -> dict[str, dict]:
    """The entry's captured embeds by link, ready for rendering."""
    if entry.pk is None:
        return {}
    return {p.url: p.rendering for p in EmbedPreview.objects.filter(entry_id=entry.pk)}


def wanted_links(body: str) -> list[str]:
    """The links of ``body`` whose embeds are captured (the first few)."""
    return embed_urls(body)[: embeds.MAX_EMBEDS_PER_ENTRY]


def request_capture(entry: Entry) -> None:
    """Drop the captures of links no longer in ``entry`` (saved) and, after
    commit, have delivery capture those not captured yet. A broker that is
    down costs the facade only: the link card stays, the next save asks again."""
    links = wanted_links(entry.body)
    gone = EmbedPreview.objects.filter(entry_id=entry.pk).exclude(url__in=links)
    if gone.exists():
        _delete_files_on_commit([name for name in gone.values_list("thumbnail", flat=True) if name])
        gone.delete()
    if not links:
        return
    captured = set(EmbedPreview.objects.filter(entry_id=entry.pk, url__in=links).values_list("url", flat=True))
    if set(links) <= captured:
        return
    entry_id = entry.pk

    def enqueue() -> None:
        try:
            current_app.tasks[CAPTURE_TASK].apply_async((entry_id,), retry_policy=HANDOFF_RETRY_POLICY)
        except Exception:  # noqa: BLE001 - any broker failure; the link card stays
            log.warning("could not enqueue the embed capture of entry %s", entry_id, exc_info=True)

    transaction.on_commit(enqueue)


def _clean_preview(entry_id: int, raw: dict) -> dict:
    """A captured preview through the text rule; :class:`Invalid` if any
    part is not what a capture may hand us."""
    url = clean_text(raw.get("url"), field="url")
    found = embeds.detect(url)
    if found is None or found["provider"] != raw.get("provider"):
        raise Invalid("Not an embeddable link.", field="url")
    frame = clean_text(raw.get("frame_src") or "", field="frame_src")
    thumbnail = raw.get("thumbnail") or ""
    if thumbnail and not (
        isinstance(thumbnail, str) and thumbnail.startswith(f"embeds/{entry_id}/") and ".." not in thumbnail
    ):
        raise Invalid("A thumbnail is stored under the entry's own folder.", field="thumbnail")
    size = {}
    for name in ("thumbnail_width", "thumbnail_height"):
        value = raw.get(name)
        size[name] = value if isinstance(value, int) and 0 < value <= 10_000 and thumbnail else None
    return {
        "url": url,
        "provider": found["provider"],
        "title": clean_text(raw.get("title") or "", field="title").strip()[: embeds.MAX_TITLE_CHARS],
        "text": clean_text(raw.get("text") or "", field="text").strip()[: embeds.MAX_TEXT_CHARS],
        "author_name": clean_text(raw.get("author_name") or "", field="author_name").strip()[: embeds.MAX_AUTHOR_CHARS],
        "frame_src": frame if embeds.frame_allowed(frame) else "",
        "thumbnail": thumbnail,
        **size,
    }


def _delete_files_on_commit(names: list[str]) -> None:
    names = [n for n in names if n]
    if names:
        transaction.on_commit(lambda: [default_storage.delete(n) for n in names])


@timed_service
def entry_embeds_capture(*, entry_id: int, previews: list[dict]) -> Entry | None:
    """Store what a capture found for ``entry_id`` and re-render its body
    (facades instead of link cards), with an ``entry.updated`` event when
    the entry is public. The entry keeps its version and "Updated" marker:
    no person changed it. Previews of links no longer in the body, of a
    deleted entry, or failing the text rule are dropped with their files."""
    kept: list[dict] = []
    dropped: list[str] = []
    for raw in previews:
        try:
            kept.append(_clean_preview(entry_id, raw))
        except Invalid as exc:
            log.warning("embed capture for entry %s dropped: %s", entry_id, exc.message)
            if isinstance(raw.get("thumbnail"), str) and raw["thumbnail"].startswith(f"embeds/{entry_id}/"):
                dropped.append(raw["thumbnail"])
    with transaction.atomic():
        entry = Entry.objects.select_related("blog").filter(pk=entry_id).first()
        if entry is None:
            _delete_files_on_commit(dropped + [p["thumbnail"] for p in kept])
            return None
        lock_blog(entry.blog)
        current = Entry.objects.select_for_update().select_related("blog").get(pk=entry_id)
        wanted = set(wanted_links(current.body)) if current.status != Entry.Status.DELETED else set()
        dropped += [p["thumbnail"] for p in kept if p["url"] not in wanted]
        kept = [p for p in kept if p["url"] in wanted]
        if not kept:
            _delete_files_on_commit(dropped)
            return current
        for preview in kept:
            old = EmbedPreview.objects.filter(entry=current, url=preview["url"]).first()
            if old is not None and old.thumbnail.name and old.thumbnail.name != preview["thumbnail"]:
                dropped.append(old.thumbnail.name)
            EmbedPreview.objects.update_or_create(
                entry=current, url=preview["url"], defaults={**preview, "captured_at": timezone.now()}
            )
        rendered = rendered_body(current.body, previews_for(current))
        if rendered["body_html"] != current.body_html:
            current.body_html, current.body_text = rendered["body_html"], rendered["body_text"]
            current.save(update_fields=["body_html", "body_text", "modified_at"])
            if current.is_published:
                entry_event(current, Event.Type.ENTRY_UPDATED)
        _delete_files_on_commit(dropped)
    return current


def embeds_drop(entry: Entry) -> None:
    """A takedown: the entry's captured embeds go, their files after commit."""
    previews = EmbedPreview.objects.filter(entry_id=entry.pk)
    names = [name for name in previews.values_list("thumbnail", flat=True) if name]
    previews.delete()
    _delete_files_on_commit(names)
