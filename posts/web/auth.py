"""Bearer-token authentication for the write API; the client address that
log-in throttling (django-axes) counts failures by."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from ninja.security import HttpBearer

from posts.domain import services


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; the request's user becomes the token's."""

    def authenticate(self, request, token: str):
        user = services.token_user(token)
        if user is not None:
            request.user = user
        return user


token_auth = TokenAuth()


def client_ip(request) -> str | None:
    """The reader's address: ``REMOTE_ADDR``, or with ``LIVEBLOG_PROXY_COUNT``
    trusted proxies in front, the address the outermost of them saw (each
    proxy appends to ``X-Forwarded-For``; what a client sends itself is
    further left and never trusted)."""
    proxies = settings.LIVEBLOG_PROXY_COUNT
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if proxies > 0 and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def locked_out(request, original_response=None, credentials=None) -> HttpResponse:
    """What django-axes answers a throttled log-in, on the desk and the admin: 429."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    response = render(request, "desk/locked_out.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
