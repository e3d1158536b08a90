"""Hostile URLs at the door: a NUL character anywhere in the path is a 404
(JSON under ``/api/``), in the query string a 400, before any view, cache
key or database (PostgreSQL refuses NUL in text) sees it. docs/input.md."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from posts.domain.errors import ErrorCode


def _refuse(request, status: int, detail: str, code: ErrorCode) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": detail, "code": code}, status=status)
    else:
        response = HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


class RefuseNulMiddleware(MiddlewareMixin):
    """Sync and async (MiddlewareMixin): the SSE view stays a coroutine."""

    def process_request(self, request):
        if "\x00" in request.path:
            return _refuse(request, 404, "Not found.", ErrorCode.NOT_FOUND)
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            return _refuse(request, 400, "The query string contains a NUL character.", ErrorCode.INVALID)
        return None
