"""Errors the services raise. Each carries the HTTP status a surface should
answer with and a message meant for a person, so the API, the desk and the
admin can pass it on unchanged."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, current: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.current = current


class NotAllowed(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    """A stale version, a taken slug, or a change the blog's state forbids.

    For stale edits ``current`` holds the entry as it now stands."""

    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class Invalid(ServiceError):
    status_code = 422


class IdempotencyKeyReused(Invalid):
    """The same Idempotency-Key came with another request (deserves its own
    code in the error-code enum: ``idempotency_key_reused``)."""

    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(Conflict):
    """The first request with this Idempotency-Key has not answered yet
    (code ``idempotency_in_flight``)."""

    code = "idempotency_in_flight"
