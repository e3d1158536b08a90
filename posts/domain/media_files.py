"""Where a photo's files are: the ``default`` storage (public, served at
MEDIA_URL or by the bucket) or ``withheld`` (served by nothing). Moving
between them is what makes a photo unreachable (docs/media.md)."""

from __future__ import annotations

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from storages.backends.s3 import S3Storage

from .models import Media

log = logging.getLogger(__name__)

PUBLIC = "default"
WITHHELD = "withheld"


def storage_of(media: Media) -> Storage:
    return storages[WITHHELD if media.withheld else PUBLIC]


def surrogate_key(name: str) -> str:
    """The CDN key of every file of one photo: ``media-<token>``, its folder
    being ``photos/<token>/`` (under any prefix: an S3 location; nginx sends
    the same, deploy/nginx.conf.template)."""
    parts = name.split("/")
    token = parts[parts.index("photos") + 1] if "photos" in parts[:-1] else parts[0]
    return f"media-{token}"


def save(storage: Storage, name: str, data: bytes) -> str:
    """Store ``data`` at exactly ``name`` (the folder's token makes it new)."""
    stored = storage.save(name, ContentFile(data))
    if stored != name:  # pragma: no cover - a token collision: refuse, never overwrite
        storage.delete(stored)
        raise FileExistsError(name)
    return stored


def move(names: list[str], *, to_withheld: bool) -> None:
    """Move a photo's files between the two storages; idempotent (a file
    already moved is skipped), so a retry finishes a move cut short."""
    source, target = (storages[PUBLIC], storages[WITHHELD]) if to_withheld else (storages[WITHHELD], storages[PUBLIC])
    for name in names:
        if not source.exists(name):
            continue
        if not target.exists(name):
            if not _server_side_copy(source, target, name):
                with source.open(name, "rb") as handle:
                    target.save(name, ContentFile(handle.read()))
        source.delete(name)


def delete(names: list[str]) -> None:
    """Remove a photo's files from both storages (legal erase, retention)."""
    for alias in (PUBLIC, WITHHELD):
        storage = storages[alias]
        for name in names:
            try:
                storage.delete(name)
            except OSError:  # pragma: no cover - logged; retention finds nothing left to point at it
                log.warning("could not delete %s from %s", name, alias, exc_info=True)


class PhotoS3Storage(S3Storage):
    """django-storages' S3 backend, each object tagged with its photo's
    surrogate key (``x-amz-meta-surrogate-key``) for a CDN that purges by
    key (docs/media.md, Storage)."""

    def get_object_parameters(self, name: str) -> dict:
        params = super().get_object_parameters(name)
        params["Metadata"] = {**params.get("Metadata", {}), "surrogate-key": surrogate_key(name)}
        return params


def _server_side_copy(source: Storage, target: Storage, name: str) -> bool:
    """Within one S3 bucket, copy without downloading; False elsewhere."""
    if not (isinstance(source, S3Storage) and isinstance(target, S3Storage)):
        return False
    if source.bucket_name != target.bucket_name:
        return False
    params = {"ACL": target.default_acl} if target.default_acl else {}
    target.bucket.Object(target._normalize_name(name)).copy(
        {"Bucket": source.bucket_name, "Key": source._normalize_name(name)}, ExtraArgs=params
    )
    return True
