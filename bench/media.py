"""What a photo costs: the upload's check and clean (on the request path)
and its renditions (the task), for camera-sized photos.

``python -m bench.media --iterations 5`` prints one JSON line: per photo
size, the median and max milliseconds of ``images.clean_upload`` (decode,
upright, re-encode without metadata) and of ``images.renditions`` (three
widths, WebP and JPEG), and the bytes in and out. Pillow only: no database,
no storage (those are the same as any small write and file save).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time


def _photo(width: int, height: int) -> bytes:
    """A photo-like JPEG: noise over gradients (flat colour would compress
    to nothing and flatter the figures), with GPS EXIF as a phone writes it."""
    from PIL import Image

    from tests.photos import gps_exif

    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=gps_exif().tobytes())
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")
    import django

    django.setup()
    from django.conf import settings

    from posts.domain import images

    report = {}
    for width, height in ((4032, 3024), (6000, 4000)):  # a 12 MP phone, a 24 MP camera
        raw = _photo(width, height)
        cleans, makes = [], []
        for _ in range(args.iterations):
            started = time.perf_counter()
            clean = images.clean_upload(raw, max_pixels=settings.LIVEBLOG_MEDIA_MAX_PIXELS)
            cleans.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            made = images.renditions(clean.data, widths=settings.LIVEBLOG_MEDIA_WIDTHS,
                                     max_pixels=settings.LIVEBLOG_MEDIA_MAX_PIXELS)
            makes.append((time.perf_counter() - started) * 1000)
        report[f"{width}x{height}"] = {
            "upload_bytes": len(raw),
            "stored_bytes": len(clean.data),
            "clean_ms": {"median": round(statistics.median(cleans)), "max": round(max(cleans))},
            "renditions_ms": {"median": round(statistics.median(makes)), "max": round(max(makes))},
            "renditions_bytes": {f"{r.width}.{r.extension}": len(r.data) for r in made},
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
