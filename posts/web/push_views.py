"""Reader opt-in to Web Push: the service worker, the public key, and
subscribe/unsubscribe.

``POST /live/<slug>/push/subscribe`` takes the browser's
``PushSubscription.toJSON()`` (``{"endpoint", "keys": {"p256dh", "auth"}}``)
and answers 201 (new) or 200 (already subscribed). These endpoints are
CSRF-exempt: readers are anonymous and no cookie grants anything here, and
the live page is cached, so it cannot carry a per-reader token.

``/sw.js`` is served from the site root so its scope covers ``/live/``.
"""

from __future__ import annotations

import json
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from posts.delivery import push
from posts.domain import selectors, services
from posts.domain.errors import ServiceError

MAX_BODY = 4096


@lru_cache(maxsize=1)
def _service_worker_source() -> bytes:
    return (settings.BASE_DIR / "static" / "push" / "sw.js").read_bytes()


@require_safe
def service_worker(request):
    response = HttpResponse(_service_worker_source(), content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


@require_safe
def public_key(request):
    response = JsonResponse({"publicKey": push.public_key()})
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _subscription_from(request) -> tuple[str, str, str]:
    if len(request.body) > MAX_BODY:
        raise ServiceError("The subscription is too large.")
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError("Send the subscription as JSON.") from exc
    if not isinstance(data, dict):
        raise ServiceError('Send {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}.')
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    values = (data.get("endpoint"), keys.get("p256dh"), keys.get("auth"))
    if not all(isinstance(v, str) and v for v in values):
        raise ServiceError('Send {"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}.', field="endpoint")
    return values


def _error(exc: ServiceError) -> JsonResponse:
    body = {"detail": exc.message}
    if exc.field:
        body["field"] = exc.field
    return JsonResponse(body, status=exc.status_code)


@csrf_exempt
@require_POST
def subscribe(request, slug: str):
    blog = selectors.public_or_upcoming_blog(slug)
    if blog is None:
        raise Http404("No such live blog.")
    try:
        endpoint, p256dh, auth = _subscription_from(request)
        _, created = services.push_subscribe(blog=blog, endpoint=endpoint, p256dh=p256dh, auth=auth)
    except ServiceError as exc:
        return _error(exc)
    return JsonResponse({"subscribed": True}, status=201 if created else 200)


@csrf_exempt
@require_POST
def unsubscribe(request, slug: str):
    blog = selectors.public_or_upcoming_blog(slug)
    if blog is None:
        raise Http404("No such live blog.")
    try:
        endpoint, _, _ = _subscription_from(request)
    except ServiceError as exc:
        return _error(exc)
    services.push_unsubscribe(blog=blog, endpoint=endpoint)
    return JsonResponse({"subscribed": False})
