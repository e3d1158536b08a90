"""Photos with Pillow: check an upload, strip its metadata, make renditions.

Pure functions on bytes; :mod:`posts.domain.services.media` stores what they
return. Every refusal is a :class:`~posts.domain.errors.ServiceError` with its
code (docs/media.md, "What is refused").
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .errors import ErrorCode, Invalid, TooLarge, UnsupportedMediaType

# Pillow format → the type we store and serve it as, and its file extension.
ACCEPTED = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp"),
            "GIF": ("image/gif", "gif")}
# What a frame's info may keep: colour and animation. Everything else (EXIF
# with GPS, XMP, comments, text chunks) is dropped.
KEPT_INFO = frozenset({"icc_profile", "transparency", "duration", "loop", "background", "disposal"})
# An animation may hold this many frames' worth of the per-frame pixel limit.
ANIMATION_PIXEL_FACTOR = 4
JPEG_QUALITY = 85
WEBP_QUALITY = 80


@dataclass(frozen=True)
class CleanImage:
    """An upload that passed every check, re-encoded without metadata."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    animated: bool


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    content_type: str
    extension: str
    data: bytes


def _damaged(exc: BaseException) -> Invalid:
    return Invalid(
        f"The image could not be read to the end ({exc}); it may be truncated or damaged. Export it again and upload that.",
        code=ErrorCode.IMAGE_DAMAGED, field="file",
    )


def _too_many_pixels(width: int, height: int, max_pixels: int) -> TooLarge:
    return TooLarge(
        f"The image is {width:,}×{height:,} pixels; the limit is {max_pixels:,} pixels. Resize it and upload again.",
        code=ErrorCode.IMAGE_TOO_MANY_PIXELS, field="file",
    )


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns (then refuses at twice its own limit); ours is lower.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"The image has too many pixels ({exc}).", code=ErrorCode.IMAGE_TOO_MANY_PIXELS,
                       field="file") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedMediaType(
            "The file is not an image we can read; upload a JPEG, PNG, WebP or GIF photo.",
            code=ErrorCode.NOT_AN_IMAGE, field="file",
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise _damaged(exc) from exc
    if image.format not in ACCEPTED:
        raise UnsupportedMediaType(
            f"{image.format} images are not taken; upload a JPEG, PNG, WebP or GIF photo.",
            code=ErrorCode.IMAGE_TYPE_REFUSED, field="file",
        )
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels(width, height, max_pixels)
    return image


def clean_upload(data: bytes, *, max_pixels: int) -> CleanImage:
    """Check ``data`` is a whole JPEG, PNG, WebP or GIF within the pixel
    limit, turn it upright (EXIF orientation) and re-encode it with no
    metadata: no EXIF (GPS above all), XMP, comments or text chunks."""
    image = _open(data, max_pixels)
    content_type, extension = ACCEPTED[image.format]
    width, height = image.size
    try:
        frames = getattr(image, "n_frames", 1)
        if frames * width * height > max_pixels * ANIMATION_PIXEL_FACTOR:
            raise TooLarge(
                f"The animation has {frames} frames of {width:,}×{height:,} pixels; that is too many to serve. "
                "Shorten or shrink it.", code=ErrorCode.IMAGE_TOO_MANY_PIXELS, field="file",
            )
        animated = frames > 1
        out = io.BytesIO()
        if animated:
            _save_animation(image, out)
        else:
            _save_still(image, out)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _damaged(exc) from exc
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(width, height, max_pixels) from exc
    stored = Image.open(io.BytesIO(out.getvalue()))
    return CleanImage(out.getvalue(), content_type, extension, stored.width, stored.height, animated)


def _keep_only_safe_info(image: Image.Image) -> None:
    image.info = {k: v for k, v in image.info.items() if k in KEPT_INFO}


def _save_still(image: Image.Image, out: io.BytesIO) -> None:
    image.load()  # a truncated file fails here
    fmt = image.format
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if fmt == "JPEG" and orientation in (1, None):
        # Upright already: keep the encoder's tables, so the photo is not
        # compressed a second time; only the metadata goes.
        _keep_only_safe_info(image)
        image.save(out, "JPEG", quality="keep", subsampling="keep", icc_profile=image.info.get("icc_profile"))
        return
    upright = ImageOps.exif_transpose(image)
    _keep_only_safe_info(upright)
    options = {"icc_profile": upright.info.get("icc_profile")}
    if fmt == "JPEG":
        options.update(quality=92)
    elif fmt == "WEBP":
        options.update(quality=90)
    elif fmt == "PNG":
        options.update(optimize=False)
    upright.save(out, fmt, **{k: v for k, v in options.items() if v is not None})


def _save_animation(image: Image.Image, out: io.BytesIO) -> None:
    fmt = image.format
    frames = []
    durations = []
    for index in range(image.n_frames):
        image.seek(index)
        image.load()
        durations.append(image.info.get("duration", 100))
        frames.append(image.copy())
    first = frames[0]
    _keep_only_safe_info(first)
    options = {"save_all": True, "append_images": frames[1:], "duration": durations,
               "loop": image.info.get("loop", 0)}
    if fmt == "WEBP":
        options.update(quality=90)
    first.save(out, fmt, **options)


def renditions(data: bytes, *, widths: tuple[int, ...], max_pixels: int) -> list[Rendition]:
    """Each width (at most the photo's own) as WebP and as a JPEG fallback;
    none for an animation (its original is served as it is)."""
    image = _open(data, max_pixels)
    if getattr(image, "n_frames", 1) > 1:
        return []
    full_width, full_height = image.size
    targets = sorted({min(w, full_width) for w in widths}, reverse=True)
    if image.format == "JPEG":
        # Decode at the smallest JPEG scale still wider than the widest
        # rendition (1/2, 1/4, 1/8): a 24 MP photo decodes ~4x faster
        # (bench/media.py).
        image.draft("RGB", (targets[0], max(1, full_height * targets[0] // full_width)))
    image.load()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    source = image.convert("RGBA" if has_alpha else "RGB")
    made = []
    # Widest first, each from the one before: every step shrinks by 1.6x or
    # more, so quality holds and the big resize is done once.
    for width in targets:
        height = max(1, round(full_height * width / full_width))
        resized = source.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0) \
            if (width, height) != source.size else source.copy()
        source = resized
        webp = io.BytesIO()
        resized.save(webp, "WEBP", quality=WEBP_QUALITY, method=4)
        made.append(Rendition(width, height, "image/webp", "webp", webp.getvalue()))
        jpeg = io.BytesIO()
        _flatten(resized).save(jpeg, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        made.append(Rendition(width, height, "image/jpeg", "jpg", jpeg.getvalue()))
    return sorted(made, key=lambda r: (r.width, r.content_type != "image/webp"))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: JPEG has no transparency."""
    if image.mode == "RGB":
        return image
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
