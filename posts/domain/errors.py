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


class Gone(ServiceError):
    """Something readers could see was taken down (a deleted entry)."""

    status_code = 410


class TooLarge(ServiceError):
    status_code = 413


class Invalid(ServiceError):
    status_code = 422
