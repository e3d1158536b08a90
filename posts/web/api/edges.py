"""The API's edges: every ``/api/`` answer is JSON (Django's own 404 for an
unknown path, ninja's 405, anything else not built by the API's error
handlers), ``405`` names the methods in ``Allow``, and ``HEAD`` is a ``GET``
without its body (CDNs and monitors use it). One middleware, so no path under
``/api/`` can answer HTML."""

from __future__ import annotations

from http import HTTPStatus

import orjson
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from posts.domain.errors import ErrorCode

API_PREFIX = "/api/"

# The machine codes of errors.py for statuses the API's own handlers never see.
CODES = {
    400: ErrorCode.BAD_REQUEST, 404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE, 503: ErrorCode.UNAVAILABLE,
}


def _json_answer(response: HttpResponse) -> HttpResponse:
    if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
        return response
    status = response.status_code
    if status == 404:
        detail = "Not found: no such API path. The API's paths are listed at /api/docs."
    elif status == 405:
        detail = f"Method not allowed here; use {response.get('Allow', 'another method')}."
    else:
        detail = HTTPStatus(status).phrase + "." if status in HTTPStatus._value2member_map_ else "Error."
    body = {"detail": detail, "code": CODES.get(status, ErrorCode.SERVER_ERROR)}
    answer = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if response.has_header(name):
            answer[name] = response[name]
    answer["Cache-Control"] = "no-cache"
    return answer


def _allow_head(response: HttpResponse) -> None:
    allow = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
    if "GET" in allow and "HEAD" not in allow:
        response["Allow"] = ", ".join([*allow, "HEAD"])


def _finish(request: HttpRequest, response: HttpResponse, head: bool) -> HttpResponse:
    if head:
        request.method = "HEAD"
    if response.status_code == 405:
        _allow_head(response)
    response = _json_answer(response)
    if head and not response.streaming:
        length = len(response.content)
        response.content = b""
        response["Content-Length"] = str(length)
    return response


def _start(request: HttpRequest) -> bool:
    head = request.method == "HEAD"
    if head:
        request.method = "GET"  # the API routes GET only; the answer loses its body below
    return head


class ApiEdgesMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        head = _start(request)
        return _finish(request, self.get_response(request), head)

    async def __acall__(self, request: HttpRequest):
        if not request.path_info.startswith(API_PREFIX):
            return await self.get_response(request)
        head = _start(request)
        return _finish(request, await self.get_response(request), head)
