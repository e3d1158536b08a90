"""What every desk view shares: finding the blog and the person's role, the
JSON and redirect replies, and turning a service error into a page.

The JSON protocol the desk script speaks is described in docs/desk.md."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from posts.domain import permissions, selectors
from posts.domain.errors import ErrorCode, NotAllowed, NotFound, ServiceError
from posts.domain.models import Blog, Entry
from posts.domain.serializers import entry_dict

from .actions import decorate


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def form_errors(form) -> dict[str, list[str]]:
    return {name or "__all__": [str(m) for m in errs] for name, errs in form.errors.items()}


def first_error(form) -> str:
    for errs in form.errors.values():
        return str(errs[0])
    return "Please check the form."


def json_failure(
    *, status: int, message: str, form=None, code: ErrorCode = ErrorCode.INVALID, **extra
) -> JsonResponse:
    """The desk script's failure reply: the same machine ``code`` as the API."""
    body = {"ok": False, "code": code, "message": message, "errors": form_errors(form) if form is not None else {}}
    body.update(extra)
    return JsonResponse(body, status=status)


def desk_blog(request: HttpRequest, slug: str) -> tuple[Blog, str]:
    """The blog and the person's role on it; refuses people with no role."""
    blog = selectors.desk_blog(slug=slug, user=request.user)
    if blog is None:
        raise NotFound(f"There is no blog '{slug}'.")
    role = permissions.role_for(request.user, blog)
    if role is None:
        raise NotAllowed("You have no role on this blog. Ask an editor to add you to its team.")
    return blog, role


def render_card(request: HttpRequest, entry: Entry, *, blog: Blog, role: str) -> str:
    """One entry's desk card, freshly read with its byline."""
    entry = selectors.desk_entry(blog=blog, entry_id=entry.pk) or entry
    decorate([entry], user=request.user, role=role)
    return render_to_string("desk/_entry.html", {"entry": entry, "blog": blog}, request=request)


def entry_json(entry: Entry) -> dict:
    data = entry_dict(entry)
    data["awaiting_approval"] = entry.awaiting_approval
    data["review_note"] = entry.review_note
    return data


def back_to_desk(blog: Blog, entry: Entry | None = None, *, anchor: str = "") -> HttpResponse:
    url = reverse("desk:blog", kwargs={"slug": blog.slug})
    if entry is not None:
        anchor = f"desk-entry-{entry.pk}"
    return redirect(f"{url}#{anchor}" if anchor else url)


def entry_reply(
    request: HttpRequest, *, blog: Blog, role: str, entry: Entry, message: str, status: int = 200
) -> HttpResponse:
    """The one success reply of every entry action: JSON for the script
    (``{"ok", "message", "entry", "entry_html"}``), else a flash message and
    a redirect back to the entry on the desk."""
    if wants_json(request):
        fresh = selectors.desk_entry(blog=blog, entry_id=entry.pk) or entry
        return JsonResponse({
            "ok": True,
            "message": message,
            "entry": entry_json(fresh),
            "entry_html": render_card(request, fresh, blog=blog, role=role),
        }, status=status)
    messages.success(request, message)
    return back_to_desk(blog, entry)


def desk_view(view):
    """Log-in required; a ServiceError nobody handled becomes a clear page
    (or JSON) with its status code instead of a 500."""

    @login_required
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ServiceError as error:
            if wants_json(request):
                extra = {"current": error.current} if error.current is not None else {}
                return json_failure(
                    status=error.status_code, message=error.message, code=error.code, **extra
                )
            return render(
                request, "desk/error.html", {"message": error.message, "status": error.status_code},
                status=error.status_code,
            )

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped
