"""Photos under ``/api/media`` (bearer token): upload one (multipart), read
one back (its renditions appear once the task has made them). An entry
uses a photo by its id (``image``). See docs/media.md."""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from ninja import File, Form, Router
from ninja.files import UploadedFile

from posts.domain import selectors, services
from posts.domain.errors import NotFound
from posts.domain.events import MediaShape
from posts.domain.serializers import media_dict
from posts.web.api.schemas import ErrorOut
from posts.web.auth import token_auth
from posts.web.caching import private

router = Router(tags=["media"], auth=token_auth)

_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 413: ErrorOut, 415: ErrorOut, 422: ErrorOut}


def _reply(data: dict, status: int = 200) -> HttpResponse:
    return private(HttpResponse(orjson.dumps(data), status=status, content_type="application/json"))


@router.post("", response={201: MediaShape, **_ERRORS}, summary="Upload a photo (multipart)")
def upload_media(
    request,
    file: File[UploadedFile],
    alt: Form[str],
    caption: Form[str] = "",
    credit: Form[str] = "",
    blog: Form[str | None] = None,
):
    """A JPEG, PNG, WebP or GIF up to ``LIVEBLOG_MEDIA_MAX_BYTES`` (15 MB by default); EXIF (GPS
    included) is removed. ``alt`` is required. ``blog`` (a slug) ties the
    photo to that blog. Use the reply's ``id`` as an entry's ``image``.
    Refused: not an image or another type (415), too large in bytes or
    pixels (413), truncated or damaged (422)."""
    owner = None
    if blog:
        owner = selectors.blog_by_slug(blog)
        if owner is None:
            raise NotFound(f"No blog '{blog}'.")
    media = services.media_upload(
        user=request.auth, file=file, alt=alt, caption=caption, credit=credit, blog=owner
    )
    return _reply(media_dict(media), status=201)


@router.get("/{media_id}", response={200: MediaShape, **_ERRORS}, summary="One photo, with its renditions")
def get_media(request, media_id: int):
    return _reply(media_dict(selectors.writer_media(media_id=media_id, user=request.auth)))
