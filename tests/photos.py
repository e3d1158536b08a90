"""Images made in the test with Pillow: a JPEG carrying GPS EXIF, other
types, and the bad inputs an upload must refuse."""

from __future__ import annotations

import io
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

SECRET_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">reporter-home-address</x:xmpmeta>'


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "NewsCam"
    exif[ExifTags.Base.Orientation] = 1
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 26.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    return exif


def photo_bytes(fmt: str = "JPEG", size: tuple[int, int] = (1800, 1200), *, gps: bool = True, mode: str = "RGB") -> bytes:
    image = Image.new(mode, size, (30, 90, 160) if mode == "RGB" else (30, 90, 160, 200))
    out = io.BytesIO()
    options = {}
    if gps and fmt in ("JPEG", "PNG", "WEBP"):
        options["exif"] = gps_exif().tobytes()
    if fmt in ("JPEG", "WEBP"):
        options["xmp"] = SECRET_XMP
    if fmt == "GIF":
        options["comment"] = b"reporter-home-address"
    image.save(out, fmt, **options)
    return out.getvalue()


def upload(data: bytes | None = None, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, photo_bytes() if data is None else data, content_type=content_type)


def truncated_jpeg() -> bytes:
    data = photo_bytes(size=(1200, 900))
    return data[: len(data) // 2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(side: int = 50_000) -> bytes:
    """A file of a few hundred bytes whose header promises side × side
    pixels (2.5 billion by default): what a decompression bomb looks like
    before it is decoded."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def bmp_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30)).save(out, "BMP")
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    return bool(exif) or bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) or b"GPS" in data or b"reporter-home-address" in data
