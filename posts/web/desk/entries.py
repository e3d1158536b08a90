"""Desk actions on entries: write (publish, draft, schedule, submit), edit,
publish now, approve, send back with a note, pin, delete, history.

Each parses its form, calls one service and replies with
:func:`.common.entry_reply` (JSON for the script, a redirect without it);
a service error lands next to the field it names (docs/desk.md)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from posts.domain import permissions, selectors, services
from posts.domain.errors import Conflict, ErrorCode, NotFound, ServiceError
from posts.domain.models import Entry, Role

from .common import back_to_desk, desk_blog, desk_view, entry_reply, first_error, json_failure, wants_json
from .forms import ComposerForm, EditForm, ReturnForm, add_service_error, local_input
from .views import desk_page

ACTION_MESSAGES = {
    "publish": "Published.",
    "draft": "Draft saved.",
    "schedule": "Scheduled.",
    "submit": "Submitted for approval. An editor will publish it.",
}
ACTION_STATUS = {"publish": Entry.Status.PUBLISHED, "schedule": Entry.Status.SCHEDULED}


@desk_view
@require_POST
def entry_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish, save a draft, schedule, or submit for approval (the button pressed)."""
    blog, role = desk_blog(request, slug)
    form = ComposerForm(request.POST, request.FILES, blog=blog, user=request.user)
    status, code = 400, ErrorCode.INVALID
    if form.is_valid():
        action = form.cleaned_data["action"]
        kwargs = form.service_kwargs()
        kwargs["status"] = ACTION_STATUS.get(action, Entry.Status.DRAFT)
        if action == "schedule":
            kwargs["publish_at"] = form.cleaned_data.get("publish_at")
        kwargs["submit"] = action == "submit"
        photo = form.photo_kwargs()
        media = None
        try:
            if photo is not None:
                media = kwargs["image"] = services.media_upload(user=request.user, blog=blog, **photo)
            entry = services.entry_create(blog=blog, user=request.user, **kwargs)
        except ServiceError as error:
            if media is not None:  # nothing half-stored: the entry did not take it
                services.media_discard(media=media)
            add_service_error(form, error)
            status, code = error.status_code, error.code
        else:
            message = ACTION_MESSAGES[action]
            if action == "schedule":
                message = f"Scheduled for {timezone.localtime(entry.publish_at):%d %b %H:%M} ({settings.TIME_ZONE})."
            return entry_reply(request, blog=blog, role=role, entry=entry, message=message, status=201)
    if wants_json(request):
        return json_failure(status=status, message=first_error(form), form=form, code=code)
    return desk_page(request, blog, role, composer=form, status=status)


def _edit_form(entry: Entry, *, user, data=None, files=None) -> EditForm:
    initial = {
        "headline": entry.headline,
        "body": entry.body,
        "kind": entry.kind,
        "key_event": entry.key_event,
        "pinned": entry.pinned,
        "authors": [a.pk for a in entry.byline],
        "publish_at": local_input(entry.publish_at) or None,
        "version": entry.version,
        **EditForm.fact_check_initial(entry),
    }
    form = EditForm(
        data, files, initial=initial, prefix=f"e{entry.pk}", blog=entry.blog, user=user, extra_authors=entry.byline,
    )
    if data is None and entry.publish_at is not None:
        # The desk script shows it in the reporter's own time zone.
        form.fields["publish_at"].widget.attrs["data-utc"] = entry.publish_at.isoformat()
    if entry.kind == Entry.Kind.CLOSING:
        form.fields["kind"].choices = [*form.fields["kind"].choices, (Entry.Kind.CLOSING, "Closing note")]
    return form


def _moved_on(post, form: EditForm, current: dict):
    """The reporter's submission with ``version`` set to the saved one, so
    pressing Save again knowingly puts their text over their colleague's."""
    data = post.copy()
    data[form.add_prefix("version")] = str(current["version"])
    return data


def _render_edit(request, blog, entry, form, *, partial, conflict=None, status=200) -> HttpResponse:
    context = {
        "blog": blog, "entry": entry, "form": form, "conflict": conflict, "partial": partial,
        "can_publish": permissions.can_publish(request.user, blog),
    }
    template = "desk/_edit_form.html" if partial else "desk/entry_edit.html"
    return render(request, template, context, status=status)


@desk_view
@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """Edit in place. A stale version is refused (409) and the saved version
    is shown beside the reporter's text; saving again re-applies theirs."""
    blog, role = desk_blog(request, slug)
    entry = selectors.entry_with_byline(selectors.desk_entry_or_404(blog=blog, entry_id=entry_id))
    partial = request.GET.get("partial") == "1" or wants_json(request)
    if request.method == "GET":
        return _render_edit(request, blog, entry, _edit_form(entry, user=request.user), partial=partial)
    form = _edit_form(entry, user=request.user, data=request.POST, files=request.FILES)
    status, code, conflict = 400, ErrorCode.INVALID, None
    if form.is_valid():
        data = form.cleaned_data
        kwargs = form.service_kwargs()
        if entry.status == Entry.Status.SCHEDULED and data.get("publish_at"):
            kwargs["publish_at"] = data["publish_at"]
        photo = form.photo_kwargs()
        media = None
        if photo is None and data.get("photo_remove"):
            kwargs["image"] = None
        try:
            try:
                if photo is not None:
                    media = kwargs["image"] = services.media_upload(user=request.user, blog=blog, **photo)
                saved = services.entry_edit(entry=entry, user=request.user, version=data["version"], **kwargs)
            except ServiceError:
                if media is not None:  # nothing half-stored: the edit did not take it
                    services.media_discard(media=media)
                raise
        except Conflict as error:
            status, code = error.status_code, error.code
            if error.current is not None:
                conflict = error.current
                form = _edit_form(entry, user=request.user, data=_moved_on(request.POST, form, conflict))
            form.add_error(None, error.message)
        except ServiceError as error:
            add_service_error(form, error)
            status, code = error.status_code, error.code
        else:
            message = "Saved." if saved.is_published else "Draft saved."
            return entry_reply(request, blog=blog, role=role, entry=saved, message=message)
    if wants_json(request):
        form_html = _render_edit(request, blog, entry, form, partial=True, conflict=conflict).content.decode()
        return json_failure(
            status=status, message=first_error(form), form=form, current=conflict, form_html=form_html, code=code,
        )
    return _render_edit(request, blog, entry, form, partial=False, conflict=conflict, status=status)


@desk_view
@require_POST
def entry_publish(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """Publish a draft or scheduled entry now; for an editor and a submitted
    draft this is the approval."""
    blog, role = desk_blog(request, slug)
    entry = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
    if entry.awaiting_approval and role == Role.EDITOR:
        entry = services.entry_approve(entry=entry, user=request.user)
        return entry_reply(request, blog=blog, role=role, entry=entry, message="Approved and published.")
    entry = services.entry_publish(entry=entry, user=request.user)
    return entry_reply(request, blog=blog, role=role, entry=entry, message="Published.")


@desk_view
@require_POST
def entry_submit(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    blog, role = desk_blog(request, slug)
    entry = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
    entry = services.entry_submit(entry=entry, user=request.user)
    return entry_reply(request, blog=blog, role=role, entry=entry, message=ACTION_MESSAGES["submit"])


@desk_view
@require_POST
def entry_return(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """An editor sends a submitted draft back to its writer with a note."""
    blog, role = desk_blog(request, slug)
    entry = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
    form = ReturnForm(request.POST)
    form.is_valid()  # every field is optional text; the service says what is wrong
    entry = services.entry_return(entry=entry, user=request.user, note=form.cleaned_data.get("note", ""))
    return entry_reply(request, blog=blog, role=role, entry=entry, message="Sent back to the writer with your note.")


@desk_view
@require_POST
def entry_pin(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    blog, role = desk_blog(request, slug)
    pinned = request.POST.get("pinned") == "1"
    entry = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
    entry = services.entry_pin(entry=entry, user=request.user, pinned=pinned)
    message = "Pinned to the top." if pinned else "Unpinned."
    return entry_reply(request, blog=blog, role=role, entry=entry, message=message)


@desk_view
@require_POST
def poll_close(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    blog, role = desk_blog(request, slug)
    entry = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
    if entry.reader_poll is None:
        raise Http404("This entry has no poll.")
    services.poll_close(poll=entry.reader_poll, user=request.user)
    entry = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
    return entry_reply(request, blog=blog, role=role, entry=entry, message="Poll closed: its result is final.")


@desk_view
@require_http_methods(["GET", "POST"])
def entry_delete(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """GET asks for confirmation (the page without JavaScript; the script
    asks with a dialog instead); POST deletes. A ``version`` in the POST
    refuses to delete an entry a colleague changed meanwhile."""
    blog, _role = desk_blog(request, slug)
    entry = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
    if request.method == "GET":
        return render(request, "desk/entry_delete.html", {"blog": blog, "entry": entry})
    version = request.POST.get("version", "")
    version = int(version) if version.isdigit() else None
    try:
        services.entry_delete(entry=entry, user=request.user, version=version)
    except Conflict as error:
        if wants_json(request):
            return json_failure(status=409, message=error.message, current=error.current, code=error.code)
        fresh = selectors.desk_entry_or_404(blog=blog, entry_id=entry_id)
        return render(
            request, "desk/entry_delete.html", {"blog": blog, "entry": fresh, "error": error.message}, status=409,
        )
    if wants_json(request):
        return JsonResponse({"ok": True, "message": "Deleted.", "id": entry.pk})
    messages.success(request, "Entry deleted.")
    return back_to_desk(blog)


@desk_view
@require_GET
def entry_history(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """Every saved version of an entry, newest first. A deleted entry's
    history is for reporters and editors only (a takedown may be legal)."""
    blog, _role = desk_blog(request, slug)
    entry = selectors.any_entry(blog=blog, entry_id=entry_id)
    if entry.status == Entry.Status.DELETED and not permissions.can_publish(request.user, blog):
        raise NotFound("This entry was deleted.")
    revisions = selectors.entry_revisions(entry=entry)
    template = "desk/_history.html" if request.GET.get("partial") == "1" else "desk/entry_history.html"
    can_erase = permissions.can_edit_blog(request.user, blog)
    return render(request, template, {"blog": blog, "entry": entry, "revisions": revisions, "can_erase": can_erase})


@desk_view
@require_POST
def entry_erase(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """Legal erase (editors), from the entry's history page."""
    blog, _role = desk_blog(request, slug)
    entry = selectors.any_entry(blog=blog, entry_id=entry_id)
    services.entry_erase(entry=entry, user=request.user, reason=request.POST.get("reason", ""))
    if wants_json(request):
        return JsonResponse({"ok": True, "message": "Erased.", "id": entry.pk})
    messages.success(request, f"Entry {entry.pk} erased; the audit record is kept.")
    return back_to_desk(blog)
