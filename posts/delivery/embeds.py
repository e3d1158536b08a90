"""Capturing an entry's social embeds: each provider's oEmbed answer and
thumbnail, fetched through the guarded client (:mod:`.outbound`) with a
whole-request timeout, the thumbnail checked and re-encoded by Pillow and
kept in our own storage under ``embeds/<entry id>/``. What could not be
fetched is left out: its link card stays. See docs/embeds.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time

import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

from posts.domain import embeds
from posts.domain.models import EmbedPreview, Entry
from posts.domain.rendering import embed_urls, plain_text

from . import outbound

log = logging.getLogger(__name__)

MAX_OEMBED_BYTES = 256 * 1024
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# Decoded size refused before decoding (a decompression bomb): 40 MP is
# ~160 MB of RGBA, far above any thumbnail.
MAX_IMAGE_PIXELS = 40_000_000
THUMBNAIL_BOX = (640, 640)
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}

_FIRST_PARAGRAPH = re.compile(r"<p\b[^>]*>(.*?)</p\s*>", re.IGNORECASE | re.DOTALL)


class CaptureFailed(Exception):
    """A provider's answer we do not use (too big, too slow, not JSON, not an image)."""


def capture(entry_id: int) -> list[dict]:
    """What the providers say about the entry's embeds not captured yet,
    one dict per link that answered (the shape ``entry_embeds_capture`` takes)."""
    body = (
        Entry.objects.filter(pk=entry_id).exclude(status=Entry.Status.DELETED).values_list("body", flat=True).first()
    )
    if body is None:
        return []
    links = embed_urls(body)[: embeds.MAX_EMBEDS_PER_ENTRY]
    done = set(EmbedPreview.objects.filter(entry_id=entry_id, url__in=links).values_list("url", flat=True))
    found = []
    session = outbound.session()
    for url in links:
        if url in done:
            continue
        try:
            found.append(_capture_one(session, entry_id, url))
        except (requests.RequestException, outbound.ForbiddenDestination, CaptureFailed, ValueError) as exc:
            log.warning("embed not captured, the link card stays", extra={"entry_id": entry_id, "error": str(exc)})
    return found


def _get(session: requests.Session, url: str, *, limit: int, accept: str) -> bytes:
    """GET ``url``'s body: at most ``limit`` bytes, within LIVEBLOG_EMBED_TIMEOUT seconds in all."""
    timeout = settings.LIVEBLOG_EMBED_TIMEOUT
    deadline = time.monotonic() + timeout
    with session.get(url, timeout=(timeout, timeout), stream=True, headers={"Accept": accept}) as response:
        outbound.raise_for_status(response)
        chunks, size = [], 0
        for chunk in response.iter_content(16 * 1024):
            size += len(chunk)
            if size > limit:
                raise CaptureFailed(f"{url}: larger than {limit:,} bytes")
            if time.monotonic() > deadline:
                raise CaptureFailed(f"{url}: slower than {timeout:g} s")
            chunks.append(chunk)
    return b"".join(chunks)


def _text_of(snippet: str) -> str:
    """The post's own words from a provider's embed HTML: its first paragraph."""
    match = _FIRST_PARAGRAPH.search(snippet or "")
    return plain_text(match.group(1)) if match else ""


def _string(data: dict, key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _capture_one(session: requests.Session, entry_id: int, url: str) -> dict:
    found = embeds.detect(url)
    if found is None:
        raise CaptureFailed(f"{url}: not an embed")
    data = json.loads(_get(session, embeds.oembed_request_url(found), limit=MAX_OEMBED_BYTES, accept="application/json"))
    if not isinstance(data, dict):
        raise CaptureFailed(f"{url}: the oEmbed answer is not an object")
    snippet = _string(data, "html")
    provider = embeds.providers()[found["provider"]]
    preview = {
        "url": url,
        "provider": found["provider"],
        "title": _string(data, "title"),
        "text": "" if provider.kind == "video" else _text_of(snippet),
        "author_name": _string(data, "author_name"),
        "frame_src": embeds.frame_from_oembed(found, snippet),
        "thumbnail": "",
    }
    thumbnail_url = _string(data, "thumbnail_url")
    if thumbnail_url:
        try:
            raw = _get(session, thumbnail_url, limit=MAX_IMAGE_BYTES, accept="image/*")
            name, width, height = store_thumbnail(entry_id, raw)
            preview.update(thumbnail=name, thumbnail_width=width, thumbnail_height=height)
        except (requests.RequestException, outbound.ForbiddenDestination, CaptureFailed, ValueError) as exc:
            log.warning("embed thumbnail not captured", extra={"entry_id": entry_id, "error": str(exc)})
    return preview


def store_thumbnail(entry_id: int, raw: bytes) -> tuple[str, int, int]:
    """Check ``raw`` is a JPEG, PNG, WebP or GIF image Pillow decodes whole,
    shrink it to the thumbnail box and keep it (metadata dropped by the
    re-encoding): ``(storage name, width, height)``."""
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.format not in IMAGE_FORMATS:
                raise CaptureFailed(f"thumbnail type {probe.format} is not taken")
            if probe.width * probe.height > MAX_IMAGE_PIXELS:
                raise CaptureFailed("thumbnail too many pixels")
            probe.verify()
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            image.thumbnail(THUMBNAIL_BOX)
            keeps_alpha = image.mode in {"RGBA", "LA", "P"}
            image = image.convert("RGBA" if keeps_alpha else "RGB")
            out = io.BytesIO()
            if keeps_alpha:
                image.save(out, format="PNG", optimize=True)
                extension = "png"
            else:
                image.save(out, format="JPEG", quality=85, optimize=True)
                extension = "jpg"
            width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise CaptureFailed(f"thumbnail is not a whole image: {exc}") from exc
    data = out.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:20]
    name = default_storage.save(f"embeds/{entry_id}/{digest}.{extension}", ContentFile(data))
    return name, width, height
