"""Endpoints only the desk script calls: the Markdown preview and the desk
state it polls (docs/desk.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from posts.delivery import channel
from posts.domain import permissions, selectors
from posts.domain.errors import ErrorCode, NotAllowed
from posts.domain.models import Entry, Role
from posts.domain.rendering import embed_hints, render_markdown

from .actions import decorate
from .common import desk_blog, desk_view, json_failure
from .views import question_cards


@desk_view
@require_POST
def preview(request: HttpRequest) -> JsonResponse:
    """Markdown as readers will see it, and which pasted links will embed."""
    if not permissions.has_any_role(request.user):
        raise NotAllowed("You have no role in the newsroom.")
    body = request.POST.get("body", "")
    if len(body) > settings.LIVEBLOG_MAX_BODY_CHARS:
        return json_failure(
            status=413, code=ErrorCode.TOO_LARGE,
            message=f"The body is {len(body):,} characters; the limit is {settings.LIVEBLOG_MAX_BODY_CHARS:,}.",
        )
    return JsonResponse({"ok": True, "html": render_markdown(body), "embeds": embed_hints(body), "chars": len(body)})


@desk_view
@require_GET
def desk_state(request: HttpRequest, slug: str) -> JsonResponse:
    """The desk now: every entry's id, version, status and place, in display
    order, with a rendered card for those changed since ``since`` (seconds
    since the epoch, from the previous answer's ``now``), the queue's
    length, the waiting reader questions and the quiet flag. Drafts, schedules and approvals make no reader events, which is
    why the desk polls at all."""
    blog, role = desk_blog(request, slug)
    now = time.time()
    try:
        since = float(request.GET.get("since", "0"))
    except ValueError:
        since = 0.0
    # A second of overlap covers clocks and commits racing the last poll.
    changed_after = datetime.fromtimestamp(max(0.0, since - 1.0), tz=UTC)
    entries = decorate(selectors.desk_entries(blog=blog), user=request.user, role=role)
    items = []
    for entry in entries:
        item = {
            "id": entry.pk,
            "version": entry.version,
            "status": entry.status,
            "awaiting_approval": entry.awaiting_approval,
            "place": entry.desk.place,
        }
        if entry.modified_at >= changed_after:
            item["html"] = render_to_string("desk/_entry.html", {"entry": entry, "blog": blog}, request=request)
        items.append(item)
    quiet = selectors.quiet_since(blog=blog, timeline=[e for e in entries if e.status == Entry.Status.PUBLISHED])
    return JsonResponse({
        "now": f"{now:.6f}",
        "blog": {"status": blog.status, "seq": blog.last_seq, "title": blog.title},
        "reader_count": channel.reader_count(blog.slug),
        "waiting": sum(1 for e in entries if e.status == "draft" and e.awaiting_approval),
        "entries": items,
        "quiet_since": quiet.isoformat() if quiet else None,
        "questions": _questions(request, blog, role, changed_after=changed_after),
    })


def _questions(request: HttpRequest, blog, role: str, *, changed_after: datetime) -> list[dict] | None:
    """Pending reader questions, oldest first, with a card for those asked
    since the last poll (reporters and editors only; contributors get null).
    Asking makes no reader event, so this poll is how a question reaches
    the desk."""
    if role not in {Role.EDITOR, Role.REPORTER}:
        return None
    items = []
    for question in question_cards(blog):
        item = {"id": question.pk}
        if question.created_at >= changed_after:
            item["html"] = render_to_string("desk/_question.html", {"question": question, "blog": blog}, request=request)
        items.append(item)
    return items
