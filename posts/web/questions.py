"""``POST /live/<slug>/questions``: a reader sends a question (docs/questions.md).

Form or JSON, no log-in. The live page is cached and served to everyone, so
it cannot carry a per-reader CSRF token: the endpoint is CSRF-exempt and
instead refuses a browser's cross-site post by its ``Origin``. Each address
may send ``LIVEBLOG_QUESTIONS_PER_ADDRESS`` per window; a filled honeypot
field is answered like a success and stored nowhere. Nothing here logs the
question's text.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from posts.domain import selectors, services
from posts.domain.errors import ErrorCode, NotAllowed, ServiceError, TooMany
from posts.web.auth import client_ip

log = logging.getLogger(__name__)

HONEYPOT = "website"
"""A field people never see (hidden by the page's CSS); bots fill it in."""
MAX_REQUEST_BYTES = 16 * 1024
THANKS = "Thank you. Your question is with the newsroom; it is published only if they answer it."


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: HttpRequest) -> None:
    """Refuse a post a browser sent from another site's page. Without an
    ``Origin`` (non-browser clients) there is no reader's browser to abuse."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allowed = {_origin(request.build_absolute_uri("/")), _origin(settings.LIVEBLOG_SITE_URL)}
    allowed |= {_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    if origin.lower() not in allowed:
        raise NotAllowed("Questions are sent from this site's live page only.", code=ErrorCode.NOT_ALLOWED)


def rate_key(address: str | None) -> str:
    return f"question-rate:{address or '-'}"


def throttle(request: HttpRequest, slug: str) -> None:
    """Count this post against the sender's address; :class:`TooMany` past
    the limit. A cache that is down lets posts through (logged)."""
    window = settings.LIVEBLOG_QUESTIONS_WINDOW_SECONDS
    key = rate_key(client_ip(request))
    try:
        cache.add(key, 0, timeout=window)
        count = cache.incr(key)
    except Exception:  # noqa: BLE001 - a cache outage must not stop readers
        log.warning("question rate limit not applied: the cache is unavailable", exc_info=True)
        return
    if count > settings.LIVEBLOG_QUESTIONS_PER_ADDRESS:
        minutes = max(1, round(window / 60))
        raise TooMany(
            f"You have sent several questions in a short time; please wait {minutes} minutes and send again.",
            retry_after=window,
        )


def _wants_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get("Accept", "")


def _fields(request: HttpRequest) -> dict:
    if len(request.body) > MAX_REQUEST_BYTES:
        raise ServiceError("The question is too large to send.", code=ErrorCode.TOO_LARGE)
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServiceError("Send the question as JSON: {\"body\": ..., \"name\"?: ...}.") from exc
        if not isinstance(data, dict):
            raise ServiceError("Send the question as JSON: {\"body\": ..., \"name\"?: ...}.")
        return data
    return request.POST.dict()


def _reply(request: HttpRequest, blog, *, status: int, message: str, fields: dict | None = None,
           error: ServiceError | None = None) -> HttpResponse:
    if _wants_json(request):
        body = {"detail": message}
        if error is not None:
            body["code"] = error.code
            if error.field:
                body["field"] = error.field
        response = JsonResponse(body, status=status)
    else:
        response = render(request, "posts/question_sent.html", {
            "blog": blog, "message": message, "error": error, "fields": fields or {},
            "max_chars": settings.LIVEBLOG_QUESTION_MAX_CHARS,
        }, status=status)
    response["Cache-Control"] = "private, no-store"
    if isinstance(error, TooMany):
        response["Retry-After"] = str(error.retry_after)
    return response


@csrf_exempt
@require_POST
def ask(request: HttpRequest, slug: str) -> HttpResponse:
    """Queue a reader's question: 202 with a thank-you (HTML or JSON)."""
    blog = selectors.public_blog(slug)
    if blog is None:
        raise Http404("No such live blog.")
    fields: dict = {}
    try:
        check_origin(request)
        throttle(request, slug)
        fields = _fields(request)
        if fields.get(HONEYPOT):
            return _reply(request, blog, status=202, message=THANKS)
        services.question_ask(blog=blog, body=fields.get("body", ""), name=fields.get("name") or "")
    except ServiceError as error:
        return _reply(request, blog, status=error.status_code, message=error.message, fields=fields, error=error)
    return _reply(request, blog, status=202, message=THANKS)
