"""``Idempotency-Key`` on writes: the API (header, per bearer token) and the
desk's forms (hidden ``idempotency_key`` field, per user). A middleware, so
the endpoints stay as they are: it claims the key, lets the write run, keeps
its answer, and answers a repeat with that answer
(:mod:`posts.domain.services.idempotency`; deploy/README.md, "Idempotent
writes")."""

from __future__ import annotations

import hashlib

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from posts.domain import services
from posts.domain.errors import ServiceError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_FIELD = "idempotency_key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Answers worth repeating: any but a server error (the write may not have
# happened: a retry must run) and a refused login (nothing ran).
NOT_KEPT = frozenset({401, 403})
KEPT_HEADERS = ("Content-Type", "Location", "Retry-After")


def _key_and_scope(request: HttpRequest) -> tuple[str, str] | None:
    if request.method not in WRITE_METHODS:
        return None
    if request.path.startswith("/api/"):
        key = request.headers.get("Idempotency-Key")
        auth = request.headers.get("Authorization", "")
        if key is None or not auth.lower().startswith("bearer "):
            return None
        return key, services.token_scope(auth[7:].strip())
    if request.path.startswith("/desk/"):
        user = getattr(request, "user", None)
        key = request.POST.get(FORM_FIELD) if user is not None and user.is_authenticated else None
        return (key, services.user_scope(user.pk)) if key else None
    return None


def fingerprint(request: HttpRequest) -> str:
    """What makes two requests the same: method, path and body (a form's
    fields, so a browser's new multipart boundary is the same request)."""
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name in sorted(request.POST):
            if name not in (FORM_FIELD, "csrfmiddlewaretoken"):
                digest.update(f"{name}={request.POST.getlist(name)!r}\n".encode())
        for name in sorted(request.FILES):
            digest.update(f"file {name}={[(f.name, f.size) for f in request.FILES.getlist(name)]!r}\n".encode())
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _error(error: ServiceError) -> JsonResponse:
    body = {"detail": error.message, "code": error.code}
    if error.field:
        body["field"] = error.field
    return JsonResponse(body, status=error.status_code)


def _replay(record) -> HttpResponse:
    response = HttpResponse(bytes(record.content), status=record.status)
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


class _Claim:
    """The sync half: claim before the write, keep or release after."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.record = None
        self.answer: HttpResponse | None = None

    def begin(self) -> None:
        found = _key_and_scope(self.request)
        if found is None:
            return
        key, scope = found
        try:
            record, fresh = services.idempotency_claim(scope=scope, key=key, fingerprint=fingerprint(self.request))
        except ServiceError as error:
            self.answer = _error(error)
            return
        if fresh:
            self.record = record
        else:
            self.answer = _replay(record)

    def end(self, response: HttpResponse | None) -> None:
        if self.record is None:
            return
        keep = (
            response is not None
            and not response.streaming
            and response.status_code < 500
            and response.status_code not in NOT_KEPT
        )
        if keep:
            headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
            services.idempotency_record(
                record=self.record, status=response.status_code, content=response.content, headers=headers
            )
        else:
            services.idempotency_release(record=self.record)


class IdempotencyMiddleware:
    """Sync and async: an SSE stream or a page read passes straight through."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        if request.method not in WRITE_METHODS:
            return self.get_response(request)
        claim = _Claim(request)
        claim.begin()
        if claim.answer is not None:
            return claim.answer
        response = None
        try:
            response = self.get_response(request)
        finally:
            claim.end(response)
        return response

    async def __acall__(self, request: HttpRequest):
        if request.method not in WRITE_METHODS:
            return await self.get_response(request)
        claim = _Claim(request)
        await sync_to_async(claim.begin)()
        if claim.answer is not None:
            return claim.answer
        response = None
        try:
            response = await self.get_response(request)
        finally:
            await sync_to_async(claim.end)(response)
        return response
