"""The vote's hot path, in front of Django (docs/polls.md, "Measured").

A JSON vote on the Redis profile is one Lua call; Django's middleware and
the hop to a worker thread cost ten times that. This ASGI wrapper answers
exactly that case (``POST /live/<slug>/polls/<id>/vote``, ``Accept:
application/json``, no voter cookie, the poll's metadata cached in this
process) with the same rules as :mod:`posts.web.polls` (Origin, signed
cookie, the service's checks and limit) and hands everything else to
Django unchanged: forms, refusals it does not know, a cold cache.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

from django.conf import settings
from django.http import JsonResponse

from posts.domain import polls, services
from posts.domain.errors import ServiceError
from posts.domain.serializers import poll_meta_dict
from posts.web import polls as poll_views

VOTE_PATH = re.compile(r"^/live/([-a-zA-Z0-9_]+)/polls/([0-9]{1,18})/vote$")


def wrap(app):
    """``app`` with votes answered first when they can be."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and settings.REDIS_URL:
            match = VOTE_PATH.match(scope["path"])
            if match is not None:
                return await _vote(app, scope, receive, send, match.group(1), int(match.group(2)))
        return await app(scope, receive, send)

    return wrapped


async def _vote(app, scope, receive, send, slug: str, poll_id: int):
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    accept = headers.get("accept", "")
    fast = (
        "application/json" in accept and "text/html" not in accept
        and headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        and poll_views.cookie_name(poll_id) not in headers.get("cookie", "")
    )
    meta = polls.cached_meta(poll_id) if fast else None
    chunks, more = [], True
    size = 0
    while more:
        message = await receive()
        body = message.get("body", b"")
        size += len(body)
        chunks.append(body)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if meta is None or size > poll_views.MAX_BODY or not _origin_allowed(scope, headers):
        return await app(scope, _replay(body, receive), send)
    option = dict(pair.partition("=")[::2] for pair in body.decode("latin-1").split("&")).get("option")
    try:
        meta, totals = services.poll_vote(
            slug=slug, poll_id=poll_id, option_id=option, address=_address(scope, headers), meta=meta
        )
    except ServiceError:
        return await app(scope, _replay(body, receive), send)  # Django answers refusals in full
    if totals is None:
        return await app(scope, _replay(body, receive), send)
    option_id = int(option)
    response = JsonResponse({**poll_meta_dict(meta, votes=totals), "voted": option_id})
    secure = scope.get("scheme") == "https" or _forwarded_https(headers)
    response.set_signed_cookie(
        poll_views.cookie_name(poll_id), str(option_id), salt=poll_views.COOKIE_SALT,
        max_age=poll_views.COOKIE_MAX_AGE, path=f"/live/{slug}/polls/", httponly=True, secure=secure,
        samesite="None" if secure else "Lax",
    )
    out = [
        (b"content-type", b"application/json"),
        (b"cache-control", b"private, no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-length", str(len(response.content)).encode()),
    ]
    cookie: SimpleCookie = response.cookies
    out += [(b"set-cookie", morsel.output(header="").strip().encode("latin-1")) for morsel in cookie.values()]
    await send({"type": "http.response.start", "status": 200, "headers": out})
    await send({"type": "http.response.body", "body": response.content})
    return None


def _replay(body: bytes, receive):
    """A ``receive`` that gives Django the body this wrapper already read,
    then the connection's own (Django listens for the client leaving)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _host_origin(scope, headers) -> str:
    scheme = "https" if scope.get("scheme") == "https" or _forwarded_https(headers) else "http"
    return f"{scheme}://{headers.get('host', '')}"


def _forwarded_https(headers) -> bool:
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy:
        return False
    name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower()
    return headers.get(name) == proxy[1]


def _origin_allowed(scope, headers) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True
    site = settings.LIVEBLOG_SITE_URL.split("://", 1)
    allowed = {f"{site[0]}://{site[1].split('/', 1)[0]}", _host_origin(scope, headers), *settings.LIVEBLOG_EMBED_ORIGINS}
    return origin.rstrip("/") in allowed


def _address(scope, headers) -> str:
    """As :func:`posts.web.auth.client_ip`, from the ASGI scope."""
    proxies = settings.LIVEBLOG_PROXY_COUNT
    forwarded = [a.strip() for a in headers.get("x-forwarded-for", "").split(",") if a.strip()]
    if proxies > 0 and len(forwarded) >= proxies:
        return forwarded[-proxies]
    client = scope.get("client")
    return client[0] if client else "unknown"

