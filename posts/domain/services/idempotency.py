"""Idempotency keys: a write sent again with the same key gets the first
answer instead of writing twice; kept 24 h per caller. The edges (the API and
the desk) claim a key before the write and record its answer after
(posts/web/api/idempotency.py). See deploy/README.md, "Idempotent writes"."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from posts.domain.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, Invalid
from posts.domain.models import IdempotencyKey

KEEP_FOR = timedelta(hours=24)
# A first request that has not answered after this long died with its
# process (every request is cut off well before): a retry takes the key over.
IN_FLIGHT_FOR = timedelta(minutes=2)
MAX_KEY_LENGTH = 255


def token_scope(bearer_key: str) -> str:
    """The scope of an API token: the SHA-256 its ApiToken row stores."""
    return "token:" + hashlib.sha256(bearer_key.encode()).hexdigest()[:64]


def user_scope(user_id: int) -> str:
    return f"user:{user_id}"


def idempotency_claim(*, scope: str, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """``(record, True)``: the caller goes ahead and then calls
    :func:`idempotency_record` or :func:`idempotency_release`.
    ``(record, False)``: the first answer, to be sent again.

    Raises :class:`IdempotencyKeyReused` (422) for the same key with another
    request, :class:`IdempotencyKeyInFlight` (409) while the first one runs.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.", field="Idempotency-Key")
    now = timezone.now()
    IdempotencyKey.objects.filter(scope=scope, created_at__lt=now - KEEP_FOR).delete()
    for _attempt in (1, 2):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(scope=scope, key=key, fingerprint=fingerprint), True
        except IntegrityError:
            record = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if record is not None:
            break
    else:
        raise IdempotencyKeyInFlight("A request with this Idempotency-Key is still in flight; retry shortly.")
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for another request; use a new key for a new request.",
            field="Idempotency-Key",
        )
    if record.status is None:
        taken = IdempotencyKey.objects.filter(
            pk=record.pk, status__isnull=True, created_at__lt=now - IN_FLIGHT_FOR
        ).update(created_at=now)
        if taken:
            return record, True
        raise IdempotencyKeyInFlight("A request with this Idempotency-Key is still in flight; retry shortly.")
    return record, False


def idempotency_record(*, record: IdempotencyKey, status: int, content: bytes, headers: dict[str, str]) -> None:
    """Keep the first answer (status, body and the headers that matter)."""
    IdempotencyKey.objects.filter(pk=record.pk).update(status=status, content=content, headers=headers)


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget a claim whose request got no answer worth repeating (a server
    error, a refused login): the next try with the key runs afresh."""
    IdempotencyKey.objects.filter(pk=record.pk, status__isnull=True).delete()
