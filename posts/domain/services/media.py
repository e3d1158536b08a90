"""Photos: upload (checked, EXIF removed, stored), renditions (a task), and
what a takedown or an erase does to them (docs/media.md).

A photo alone is no change a reader sees (it has no event); it reaches
readers through an entry, whose services call :func:`withhold_if_unused`
and :func:`release_if_withheld`.
"""

from __future__ import annotations

import logging
import secrets

from celery import current_app
from django.conf import settings
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from posts.domain import images, media_files, permissions
from posts.domain.errors import ErrorCode, Invalid, TooLarge
from posts.domain.models import Blog, Entry, Media
from posts.domain.text import clean_text

from .outbox import HANDOFF_RETRY_POLICY, hand_off_purge, require

log = logging.getLogger(__name__)

RENDITIONS_TASK = "posts.domain.tasks.media_renditions_task"
MAX_ALT_CHARS = 500
MAX_CAPTION_CHARS = 1000
MAX_CREDIT_CHARS = 200


def _clean_field(value: str | None, *, field: str, limit: int, required: bool = False) -> str:
    value = " ".join(clean_text(value or "", field=field).split())
    if required and not value:
        raise Invalid(
            "Describe the photo for readers who cannot see it: alt text is required.", field=field
        )
    if len(value) > limit:
        raise Invalid(f"The {field} is {len(value):,} characters; keep it under {limit:,}.", field=field)
    return value


def _read_upload(file, max_bytes: int) -> bytes:
    size = getattr(file, "size", None)
    if size is not None and size > max_bytes:
        raise TooLarge(_too_big(size, max_bytes), field="file")
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(_too_big(len(data), max_bytes), field="file")
    if not data:
        raise Invalid("The file is empty.", code=ErrorCode.NOT_AN_IMAGE, field="file")
    return data


def _too_big(size: int, limit: int) -> str:
    return f"The file is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB. Export a smaller photo."


def media_upload(
    *, user, file, alt: str, caption: str = "", credit: str = "", blog: Blog | None = None
) -> Media:
    """A reporter's upload (desk or API): checked, stored without metadata;
    renditions follow from a task. ``blog`` ties it to one blog's entries
    (None: any blog the uploader writes on)."""
    require(permissions.can_write, user, blog, "You cannot add photos here.")
    data = _read_upload(file, settings.LIVEBLOG_MEDIA_MAX_BYTES)
    return store_media_from_bytes(data=data, alt=alt, caption=caption, credit=credit, blog=blog, user=user)


def store_media_from_bytes(
    *, data: bytes, alt: str, caption: str = "", credit: str = "", blog: Blog | None = None, user=None
) -> Media:
    """Check and store an image given as bytes (an upload, or a thumbnail
    the embed task fetched through the guarded client): the same checks,
    no permission check (the caller has made it). Nothing is left stored
    if any step fails."""
    alt = _clean_field(alt, field="alt", limit=MAX_ALT_CHARS, required=True)
    caption = _clean_field(caption, field="caption", limit=MAX_CAPTION_CHARS)
    credit = _clean_field(credit, field="credit", limit=MAX_CREDIT_CHARS)
    if len(data) > settings.LIVEBLOG_MEDIA_MAX_BYTES:
        raise TooLarge(_too_big(len(data), settings.LIVEBLOG_MEDIA_MAX_BYTES), field="file")
    clean = images.clean_upload(data, max_pixels=settings.LIVEBLOG_MEDIA_MAX_PIXELS)
    storage = storages[media_files.PUBLIC]
    name = media_files.save(storage, f"photos/{secrets.token_urlsafe(12)}/original.{clean.extension}", clean.data)
    try:
        with transaction.atomic():
            media = Media.objects.create(
                blog=blog, file=name, alt=alt, caption=caption, credit=credit,
                width=clean.width, height=clean.height, content_type=clean.content_type,
                size=len(clean.data), uploaded_by=user if getattr(user, "is_authenticated", False) else None,
            )
            media_id = media.pk
            transaction.on_commit(lambda: _hand_off_renditions(media_id))
    except BaseException:
        storage.delete(name)
        raise
    return media


def _hand_off_renditions(media_id: int) -> None:
    """Enqueue the renditions by task name; a worker makes them (in-process
    under the embedded default). Lost: the page serves the original."""
    try:
        current_app.tasks[RENDITIONS_TASK].apply_async((media_id,), retry_policy=HANDOFF_RETRY_POLICY)
    except Exception:  # noqa: BLE001 - any broker failure; pages fall back to the original
        log.warning("could not enqueue renditions of media %s", media_id, exc_info=True)


def media_make_renditions(*, media_id: int) -> Media | None:
    """Make the photo's renditions once (idempotent: a photo that has them,
    or is gone, is left alone). Pages that show it are purged so they pick
    up the ``srcset``."""
    media = Media.objects.filter(pk=media_id).first()
    if media is None or media.renditions:
        return media
    storage = media_files.storage_of(media)
    with storage.open(media.file.name, "rb") as handle:
        original = handle.read()
    made = images.renditions(
        original, widths=settings.LIVEBLOG_MEDIA_WIDTHS, max_pixels=settings.LIVEBLOG_MEDIA_MAX_PIXELS
    )
    folder = media.file.name.rsplit("/", 1)[0]
    stored = []
    for rendition in made:
        name = media_files.save(storage, f"{folder}/{rendition.width}.{rendition.extension}", rendition.data)
        stored.append({"width": rendition.width, "height": rendition.height, "type": rendition.content_type,
                       "name": name, "size": len(rendition.data)})
    with transaction.atomic():
        current = Media.objects.select_for_update().filter(pk=media_id).first()
        if current is None or current.renditions or current.withheld != media.withheld:
            # Erased, done by another worker, or moved meanwhile: drop ours.
            transaction.on_commit(lambda: media_files.delete([r["name"] for r in stored]))
            return current
        current.renditions = stored
        current.save(update_fields=["renditions"])
        # The entries showing it render again (their fragments are made per
        # entry version and modification time: posts/web/fragments.py).
        Entry.objects.filter(image=current).update(modified_at=timezone.now())
        for slug in set(Blog.objects.filter(
            entries__image=current, entries__status=Entry.Status.PUBLISHED
        ).values_list("slug", flat=True)):
            hand_off_purge(slug)
    return current


def media_discard(*, media: Media) -> None:
    """Undo an upload no entry took (the desk's composer failed after it):
    the row and, after commit, its files. A photo in use is left alone."""
    with transaction.atomic():
        current = Media.objects.select_for_update().filter(pk=media.pk).first()
        if current is None or Entry.objects.filter(image=current).exists():
            return
        names = current.names
        current.delete()
        transaction.on_commit(lambda: media_files.delete(names))


def clean_image(image, *, blog: Blog) -> Media | None:
    """An entry's ``image`` (a Media, its id, or None) checked against the
    entry's blog: 422 naming ``image`` when there is no such photo here."""
    if image is None:
        return None
    # Read again even when given a Media: its renditions or state may have moved on.
    media_id = image.pk if isinstance(image, Media) else image
    try:
        media = Media.objects.filter(pk=int(media_id)).first()
    except (TypeError, ValueError):
        media = None
    if media is None:
        raise Invalid(f"No photo {media_id}; upload it first (POST /api/media).", field="image")
    if media.blog_id not in (None, blog.pk):
        raise Invalid(f"Photo {media.pk} belongs to another blog; upload it to this one.", field="image")
    return media


def withhold_if_unused(media_id: int | None, *, slug: str, leaving: Entry) -> bool:
    """In the transaction that takes ``leaving`` down (or takes its photo
    off it): unless another published entry shows the photo, mark it
    withheld and, after commit, move its files out of the public storage
    and purge cached copies. Returns whether it was withheld."""
    if media_id is None:
        return False
    in_use = Entry.objects.filter(image_id=media_id, status=Entry.Status.PUBLISHED).exclude(pk=leaving.pk)
    if in_use.exists():
        return False
    media = Media.objects.select_for_update().filter(pk=media_id).first()
    if media is None or media.withheld:
        return False
    media.withheld = True
    media.save(update_fields=["withheld"])
    names = media.names
    transaction.on_commit(lambda: media_files.move(names, to_withheld=True))
    hand_off_purge(slug, keys=[media_files.surrogate_key(names[0])])
    return True


def release_if_withheld(media: Media | None) -> None:
    """In the transaction that publishes an entry with a withheld photo:
    it is public again once committed."""
    if media is None or not media.withheld:
        return
    Media.objects.filter(pk=media.pk).update(withheld=False)
    media.withheld = False
    names = media.names
    transaction.on_commit(lambda: media_files.move(names, to_withheld=False))


def erase_if_unused(media_id: int | None, *, erased: Entry) -> bool:
    """Legal erase: unless an entry that is not deleted still uses the photo,
    delete it and, after commit, its files. Returns whether it went."""
    if media_id is None:
        return False
    if Entry.objects.filter(image_id=media_id).exclude(status=Entry.Status.DELETED).exclude(pk=erased.pk).exists():
        return False
    media = Media.objects.select_for_update().filter(pk=media_id).first()
    if media is None:
        return False
    Entry.objects.filter(image_id=media_id).update(image=None)
    names = media.names
    media.delete()
    transaction.on_commit(lambda: media_files.delete(names))
    return True
