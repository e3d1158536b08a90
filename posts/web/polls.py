"""Readers' side of polls (docs/polls.md): the tallies (JSON, and a page for
readers without JavaScript) and the vote.

``POST /live/<slug>/polls/<id>/vote`` (``option=<option id>``, form or JSON)
is reached from cached pages and other sites' widgets, so it is CSRF-exempt
and checks ``Origin`` instead (the site's own, or LIVEBLOG_EMBED_ORIGINS).
Once per browser: a signed cookie (``SameSite=None; Secure`` over https),
with a per-address limit behind it in the service. Never cached.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from posts.domain import selectors, services
from posts.domain.errors import Conflict, ErrorCode, NotAllowed, ServiceError
from posts.domain.serializers import poll_dict, poll_meta_dict
from posts.web.auth import client_ip
from posts.web.caching import ERROR_CACHE_CONTROL, PRIVATE_CACHE_CONTROL

# Tallies move every second while votes come in.
TALLY_CACHE_CONTROL = "public, max-age=1"
COOKIE_SALT = "liveblog.poll-vote"
COOKIE_MAX_AGE = 90 * 86400
MAX_BODY = 1024


def cookie_name(poll_id: int) -> str:
    return f"lbvote{poll_id}"


def _poll_or_404(slug: str, poll_id: int):
    poll = selectors.public_poll(slug=slug, poll_id=poll_id)
    if poll is None:
        raise Http404("No such poll on this live blog.")
    return poll


def _shape(poll) -> dict:
    return poll_dict(poll, votes=selectors.poll_tallies(poll))


@require_safe
def poll_tallies(request: HttpRequest, slug: str, poll_id: int) -> HttpResponse:
    """The poll with its tallies as counted now (JSON)."""
    try:
        poll = _poll_or_404(slug, poll_id)
    except Http404:
        response = JsonResponse({"detail": "There is no such poll on this live blog.", "code": "not_found"}, status=404)
        response["Cache-Control"] = ERROR_CACHE_CONTROL
        return response
    response = JsonResponse(_shape(poll))
    response["Cache-Control"] = TALLY_CACHE_CONTROL
    response["Access-Control-Allow-Origin"] = "*"  # public numbers, for widgets on other sites
    return response


@require_safe
def poll_result(request: HttpRequest, slug: str, poll_id: int) -> HttpResponse:
    """The tallies as a page: where "See the results" leads without JavaScript."""
    poll = _poll_or_404(slug, poll_id)
    response = _result_page(request, poll, message="", status=200)
    response["Cache-Control"] = TALLY_CACHE_CONTROL
    return response


def _result_page(request, poll, *, message: str, status: int, voted: int | None = None) -> HttpResponse:
    shape = _shape(poll)
    total = shape["total"]
    for option in shape["options"]:
        option["percent"] = round(100 * option["votes"] / total) if total else 0
    return render(request, "posts/poll_result.html", {
        "poll": shape, "blog": poll.entry.blog, "entry": poll.entry, "message": message, "voted": voted,
    }, status=status)


def allowed_origins(request: HttpRequest) -> set[str]:
    site = urlsplit(settings.LIVEBLOG_SITE_URL)
    return {f"{site.scheme}://{site.netloc}", f"{request.scheme}://{request.get_host()}", *settings.LIVEBLOG_EMBED_ORIGINS}


def _check_origin(request: HttpRequest) -> None:
    """A browser names the page that posts (every cross-site POST carries
    ``Origin``); a page we do not know may not vote on our readers' behalf.
    No header at all is a client that is not a browser page: allowed."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if origin.rstrip("/") not in allowed_origins(request):
        raise NotAllowed(
            "Votes are taken from this site's pages and its partners' widgets only.",
            code=ErrorCode.FORBIDDEN_ORIGIN,
        )


def _wants_json(request: HttpRequest) -> bool:
    if request.content_type == "application/json":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _option_from(request: HttpRequest):
    if len(request.body) > MAX_BODY:
        raise ServiceError("A vote is one option id.")
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ServiceError('Send {"option": <option id>}.') from None
        return data.get("option") if isinstance(data, dict) else None
    return request.POST.get("option")


def _voted(request: HttpRequest, poll_id: int) -> int | None:
    try:
        return int(request.get_signed_cookie(cookie_name(poll_id), salt=COOKIE_SALT))
    except (KeyError, signing.BadSignature, ValueError):
        return None


@csrf_exempt
@require_POST
def poll_vote(request: HttpRequest, slug: str, poll_id: int) -> HttpResponse:
    as_json = _wants_json(request)
    already = None
    try:
        _check_origin(request)
        option = _option_from(request)
        if (already := _voted(request, poll_id)) is not None:
            raise Conflict("You have already voted in this poll.", code=ErrorCode.ALREADY_VOTED)
        meta, totals = services.poll_vote(slug=slug, poll_id=poll_id, option_id=option, address=client_ip(request) or "")
    except ServiceError as exc:
        return _refused(request, exc, slug=slug, poll_id=poll_id, as_json=as_json,
                        voted=already if exc.code == ErrorCode.ALREADY_VOTED else None)
    option_id = int(option)
    if as_json and totals is not None:
        # The hot path (2,000 votes/s, bench/): no database query at all.
        response = JsonResponse({**poll_meta_dict(meta, votes=totals), "voted": option_id})
    else:
        poll = selectors.public_poll(slug=slug, poll_id=poll_id)
        if as_json:
            response = JsonResponse({**poll_dict(poll, votes=selectors.poll_tallies(poll)), "voted": option_id})
        else:
            response = _result_page(request, poll, message="Thank you: your vote is counted.", status=200,
                                    voted=option_id)
    secure = request.is_secure()
    response.set_signed_cookie(
        cookie_name(poll_id), str(option_id), salt=COOKIE_SALT, max_age=COOKIE_MAX_AGE,
        path=f"/live/{slug}/polls/", httponly=True, secure=secure,
        # Widgets on other sites post cross-site: their cookie must be SameSite=None (which needs Secure).
        samesite="None" if secure else "Lax",
    )
    response["Cache-Control"] = PRIVATE_CACHE_CONTROL
    return response


def _refused(request, exc: ServiceError, *, slug: str, poll_id: int, as_json: bool, voted: int | None) -> HttpResponse:
    poll = selectors.public_poll(slug=slug, poll_id=poll_id) if exc.status_code != 404 else None
    if as_json:
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        if poll is not None and exc.code in (ErrorCode.ALREADY_VOTED, ErrorCode.POLL_CLOSED):
            body["poll"] = _shape(poll)
            if voted is not None:
                body["voted"] = voted
        response = JsonResponse(body, status=exc.status_code)
    elif poll is None:
        response = render(request, "posts/not_found.html", status=exc.status_code)
    else:
        response = _result_page(request, poll, message=exc.message, status=exc.status_code, voted=voted)
    if exc.status_code == 429:
        response["Retry-After"] = str(int(settings.LIVEBLOG_POLL_RATE_WINDOW_SECONDS))
    patch_cache_control(response, private=True, no_store=True)
    return response
