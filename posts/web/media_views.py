"""Photos served by the app under MEDIA_URL (the embedded default; nginx
serves the same folder in the production profile, an S3-compatible store
serves its own). Only the public storage is served; a withheld photo is
elsewhere, so it is a 404 here (docs/media.md)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from django.views.static import serve

from posts.domain import media_files

# Browsers check back hourly; a CDN keeps a week, purged on takedown by the
# photo's surrogate key. Keep in step with deploy/nginx.conf.template.
MEDIA_CACHE_CONTROL = "public, max-age=3600, s-maxage=604800"
SERVED_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


@require_safe
def media_file(request: HttpRequest, name: str) -> HttpResponse:
    extension = name.rsplit(".", 1)[-1].lower()
    if extension not in SERVED_TYPES or not name.startswith("photos/"):
        raise Http404("No such photo.")
    response = serve(request, name, document_root=settings.MEDIA_ROOT)
    response["Content-Type"] = SERVED_TYPES[extension]
    response["Cache-Control"] = MEDIA_CACHE_CONTROL
    response["Surrogate-Key"] = media_files.surrogate_key(name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Access-Control-Allow-Origin"] = "*"  # partners' pages and apps show them
    return response
