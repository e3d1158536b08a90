"""Photos at the service boundary: what is taken (EXIF and GPS removed,
renditions made), what is refused (each class of bad input, with its code,
nothing stored), and what a takedown, an erase and retention do to them."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.db.models import RestrictedError
from django.utils import timezone
from PIL import Image

from posts.domain import retention, services
from posts.domain.errors import ErrorCode, Invalid, NotAllowed, ServiceError
from posts.domain.models import Entry, Media
from tests.factories import make_entry
from tests.photos import SECRET_XMP, bmp_bytes, bomb_png, has_gps, photo_bytes, truncated_jpeg, upload

# Real commits: uploads hand renditions and file moves to on_commit.
pytestmark = pytest.mark.django_db(transaction=True)


def _files(root) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def _upload(user, blog=None, data=None, **fields) -> Media:
    fields.setdefault("alt", "Crowds outside the count centre")
    return services.media_upload(user=user, file=upload(data), blog=blog, **fields)


def test_an_upload_is_stored_without_exif_or_gps_and_gets_renditions(reporter, blog):
    raw = photo_bytes(size=(1800, 1200))
    assert has_gps(raw)  # the test's photo does carry a location
    media = _upload(reporter, blog, raw, caption="The count", credit="Ana Reporter")

    assert (media.width, media.height, media.content_type) == (1800, 1200, "image/jpeg")
    stored = storages["default"].open(media.file.name).read()
    assert not has_gps(stored)
    assert SECRET_XMP not in stored
    media.refresh_from_db()  # renditions were made in-process at commit (eager Celery)
    assert [(r["width"], r["type"]) for r in media.renditions] == [
        (480, "image/webp"), (480, "image/jpeg"), (960, "image/webp"), (960, "image/jpeg"),
        (1600, "image/webp"), (1600, "image/jpeg"),
    ]
    for rendition in media.renditions:
        image = Image.open(storages["default"].open(rendition["name"]))
        assert image.width == rendition["width"] and image.format == rendition["type"].split("/")[1].upper()
        assert not image.getexif()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_png_webp_and_gif_are_taken_and_cleaned(reporter, blog, fmt):
    media = _upload(reporter, blog, photo_bytes(fmt, size=(640, 400)))
    stored = storages["default"].open(media.file.name).read()
    assert media.content_type == f"image/{fmt.lower()}"
    assert not has_gps(stored)


def test_a_photo_smaller_than_every_width_gets_one_rendition_at_its_own_width(reporter, blog):
    media = _upload(reporter, blog, photo_bytes(size=(300, 200)))
    media.refresh_from_db()
    assert {r["width"] for r in media.renditions} == {300}


def test_a_sideways_photo_is_stored_upright(reporter, blog):
    image = Image.new("RGB", (400, 200), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    media = _upload(reporter, blog, out.getvalue())
    assert (media.width, media.height) == (200, 400)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"%PDF-1.7 not a photo at all", 415, ErrorCode.NOT_AN_IMAGE),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, ErrorCode.NOT_AN_IMAGE),
        (bmp_bytes(), 415, ErrorCode.IMAGE_TYPE_REFUSED),
        (bomb_png(), 413, ErrorCode.IMAGE_TOO_MANY_PIXELS),  # past Pillow's own limit
        (bomb_png(8_000), 413, ErrorCode.IMAGE_TOO_MANY_PIXELS),  # past ours (40 MP)
        (truncated_jpeg(), 422, ErrorCode.IMAGE_DAMAGED),
    ],
    ids=["pdf", "svg", "bmp", "bomb", "bomb-under-pillows-limit", "truncated"],
)
def test_bad_files_are_refused_with_their_code_and_nothing_is_stored(reporter, blog, data, status, code):
    with pytest.raises(ServiceError) as refused:
        _upload(reporter, blog, data)
    assert (refused.value.status_code, refused.value.code, refused.value.field) == (status, code, "file")
    assert refused.value.message
    assert not Media.objects.exists()
    assert _files(settings.MEDIA_ROOT) == []


def test_a_file_over_the_byte_limit_is_refused_with_413(reporter, blog, settings):
    settings.LIVEBLOG_MEDIA_MAX_BYTES = 10_000
    with pytest.raises(ServiceError) as refused:
        _upload(reporter, blog, photo_bytes(size=(1800, 1200)) + b"\0" * 20_000)
    assert (refused.value.status_code, refused.value.code) == (413, ErrorCode.TOO_LARGE)
    assert not Media.objects.exists() and _files(settings.MEDIA_ROOT) == []


def test_alt_text_is_required_and_text_is_cleaned(reporter, blog):
    with pytest.raises(Invalid) as refused:
        _upload(reporter, blog, alt="   ")
    assert refused.value.field == "alt"
    with pytest.raises(Invalid) as refused:
        _upload(reporter, blog, credit="a\x00b")
    assert refused.value.field == "credit"
    media = _upload(reporter, blog, alt="A\x01 crowd\n at  night", caption="c\x1b[31m")
    assert (media.alt, media.caption) == ("A crowd at night", "c[31m")
    assert _files(settings.MEDIA_ROOT)  # only the last one stored


def test_a_database_failure_leaves_no_file_behind(reporter, blog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Media.objects, "create", broken)
    with pytest.raises(RuntimeError):
        _upload(reporter, blog)
    assert _files(settings.MEDIA_ROOT) == []


def test_only_writers_upload(contributor, blog, db):
    from tests.factories import UserFactory

    with pytest.raises(NotAllowed):
        _upload(UserFactory(), blog)
    assert _upload(contributor, blog).pk  # contributors write drafts with photos


def test_an_entry_takes_a_photo_of_its_blog_only(reporter, editor, blog):
    from tests.factories import make_blog

    other = make_blog(editor=editor, title="Other night")
    mine = _upload(reporter, blog)
    entry = make_entry(blog=blog, user=reporter, image=mine.pk)
    assert entry.image == mine
    with pytest.raises(Invalid) as refused:
        make_entry(blog=other, user=editor, image=mine.pk)
    assert refused.value.field == "image"
    with pytest.raises(Invalid):
        make_entry(blog=blog, user=reporter, image=999_999)


def _public(media: Media) -> list[bool]:
    return [storages["default"].exists(n) for n in media.names]


def _withheld(media: Media) -> list[bool]:
    return [storages["withheld"].exists(n) for n in media.names]


def test_deleting_an_entry_withholds_its_photo_unless_another_published_entry_shows_it(reporter, blog):
    media = _upload(reporter, blog)
    media.refresh_from_db()
    first = make_entry(blog=blog, user=reporter, image=media)
    second = make_entry(blog=blog, user=reporter, image=media)

    services.entry_delete(entry=first, user=reporter)
    media.refresh_from_db()
    assert not media.withheld and all(_public(media))  # the second still shows it

    services.entry_delete(entry=second, user=reporter)
    media.refresh_from_db()
    assert media.withheld
    assert not any(_public(media)) and all(_withheld(media))


def test_publishing_an_entry_with_a_withheld_photo_makes_it_public_again(reporter, blog):
    media = _upload(reporter, blog)
    media.refresh_from_db()
    entry = make_entry(blog=blog, user=reporter, image=media)
    draft = make_entry(blog=blog, user=reporter, image=media, status="draft")
    services.entry_delete(entry=entry, user=reporter)
    media.refresh_from_db()
    assert media.withheld

    services.entry_publish(entry=draft, user=reporter)
    media.refresh_from_db()
    assert not media.withheld and all(_public(media)) and not any(_withheld(media))


def test_taking_the_photo_off_a_published_entry_withholds_it(reporter, blog):
    media = _upload(reporter, blog)
    entry = make_entry(blog=blog, user=reporter, image=media)
    edited = services.entry_edit(entry=entry, user=reporter, version=entry.version, image=None)
    media.refresh_from_db()
    assert edited.image is None and edited.updated_at is not None
    assert media.withheld and not any(_public(media))


def test_erasing_an_entry_removes_its_photo_files(editor, blog):
    media = _upload(editor, blog)
    media.refresh_from_db()
    names = media.names
    entry = make_entry(blog=blog, user=editor, image=media)
    services.entry_delete(entry=entry, user=editor)
    services.entry_erase(entry=entry, user=editor, reason="Court order 12/34")
    assert not Media.objects.filter(pk=media.pk).exists()
    assert Entry.objects.get(pk=entry.pk).image_id is None
    assert not any(storages[a].exists(n) for a in ("default", "withheld") for n in names)


def test_erasing_keeps_a_photo_another_entry_still_uses(editor, blog):
    media = _upload(editor, blog)
    entry = make_entry(blog=blog, user=editor, image=media)
    make_entry(blog=blog, user=editor, image=media)
    services.entry_erase(entry=entry, user=editor, reason="Complaint")
    media.refresh_from_db()
    assert Entry.objects.get(pk=entry.pk).image_id is None
    assert all(_public(media))


def test_retention_deletes_orphan_photos_older_than_the_setting_with_their_files(reporter, blog, settings):
    settings.LIVEBLOG_RETAIN_ORPHAN_MEDIA_DAYS = 2
    old_orphan = _upload(reporter, blog)
    old_used = _upload(reporter, blog)
    new_orphan = _upload(reporter, blog)
    make_entry(blog=blog, user=reporter, image=old_used)
    Media.objects.filter(pk__in=[old_orphan.pk, old_used.pk]).update(created_at=timezone.now() - timedelta(days=3))
    old_orphan.refresh_from_db()
    names = old_orphan.names

    report = retention.run()

    assert report["orphan_media"] == 1
    assert set(Media.objects.values_list("pk", flat=True)) == {old_used.pk, new_orphan.pk}
    assert not any(storages["default"].exists(n) for n in names)


def test_store_media_from_bytes_is_the_same_check_for_fetched_thumbnails(blog):
    media = services.store_media_from_bytes(data=photo_bytes(size=(640, 360)), alt="Video thumbnail", blog=blog)
    assert media.uploaded_by is None and media.width == 640
    with pytest.raises(ServiceError) as refused:
        services.store_media_from_bytes(data=b"<html>", alt="x", blog=blog)
    assert refused.value.status_code == 415


def test_a_blog_deleted_with_its_entries_takes_its_photos_rows_along(reporter, blog):
    media = _upload(reporter, blog)
    make_entry(blog=blog, user=reporter, image=media)
    with pytest.raises(RestrictedError):  # a photo in use stays
        Media.objects.filter(pk=media.pk).delete()
    blog.delete()
    assert not Media.objects.exists()
