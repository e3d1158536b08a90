"""Errors the services raise. Each has a stable machine ``code`` (one
:class:`ErrorCode`: clients and tests match on it, never on the text), the
HTTP status a surface answers with, and a message meant for a person that
says how to fix it. Each edge maps them once (API handler, desk, admin)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every error code the API and the desk can answer with. Renaming one
    is a change of the public contract (they are listed in the OpenAPI
    document)."""

    # 400-415: the request itself
    BAD_REQUEST = "bad_request"
    FORBIDDEN_ORIGIN = "forbidden_origin"
    UNAUTHORIZED = "unauthorized"
    NOT_ALLOWED = "not_allowed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    GONE = "gone"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # Photos (docs/media.md): 415, 413, 413, 422
    NOT_AN_IMAGE = "not_an_image"
    IMAGE_TYPE_REFUSED = "image_type_refused"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    IMAGE_DAMAGED = "image_damaged"
    # 409: the state of things forbids it now
    STALE_VERSION = "stale_version"
    SLUG_TAKEN = "slug_taken"
    BLOG_CLOSED = "blog_closed"
    BLOG_ALREADY_CLOSED = "blog_already_closed"
    BLOG_NOT_LIVE = "blog_not_live"
    BLOG_WENT_LIVE = "blog_went_live"
    ENTRY_DELETED = "entry_deleted"
    NOT_A_DRAFT = "not_a_draft"
    IDEMPOTENCY_IN_FLIGHT = "idempotency_in_flight"
    QUESTIONS_CLOSED = "questions_closed"
    QUESTION_HANDLED = "question_handled"
    POLL_CLOSED = "poll_closed"
    ALREADY_VOTED = "already_voted"
    POLL_HAS_VOTES = "poll_has_votes"
    # 422: a value is wrong
    INVALID = "invalid"
    INVALID_CURSOR = "invalid_cursor"
    NOT_TEAM_MEMBER = "not_team_member"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    # 429: too many, wait
    RATE_LIMITED = "rate_limited"
    # 5xx: ours, not the request's
    NOT_IMPLEMENTED = "not_implemented"  # oEmbed: a format other than JSON
    SERVER_ERROR = "server_error"
    UNAVAILABLE = "unavailable"


class ServiceError(Exception):
    status_code = 400
    default_code = ErrorCode.BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        current: dict | None = None,
    ):
        super().__init__(message)
        self.message = str(message)
        self.code = code or self.default_code
        self.field = field
        self.current = current


class NotAllowed(ServiceError):
    status_code = 403
    default_code = ErrorCode.NOT_ALLOWED


class NotFound(ServiceError):
    status_code = 404
    default_code = ErrorCode.NOT_FOUND


class Conflict(ServiceError):
    """A change the current state forbids; for a stale edit (code
    ``stale_version``) ``current`` holds the entry as it now stands."""

    status_code = 409
    default_code = ErrorCode.STALE_VERSION


class Gone(ServiceError):
    """Something readers could see was taken down (a deleted entry)."""

    status_code = 410
    default_code = ErrorCode.GONE


class TooLarge(ServiceError):
    status_code = 413
    default_code = ErrorCode.TOO_LARGE


class UnsupportedMediaType(ServiceError):
    """An upload that is not a photo of a type we take."""

    status_code = 415
    default_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class Invalid(ServiceError):
    status_code = 422
    default_code = ErrorCode.INVALID


class NotTeamMember(Invalid):
    """A byline names someone who is not on the blog's team."""

    default_code = ErrorCode.NOT_TEAM_MEMBER


class IdempotencyKeyReused(Invalid):
    """The same Idempotency-Key came with another request."""

    default_code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class IdempotencyKeyInFlight(Conflict):
    """The first request with this Idempotency-Key has not answered yet."""

    default_code = ErrorCode.IDEMPOTENCY_IN_FLIGHT


class TooMany(ServiceError):
    """Too many requests from one place; ``retry_after`` seconds to wait."""

    status_code = 429
    default_code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TooManyRequests(ServiceError):
    """Too many votes from one address for now (docs/polls.md)."""

    status_code = 429
    default_code = ErrorCode.RATE_LIMITED
