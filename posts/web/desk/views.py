"""The reporter desk: where a live blog is written on deadline.

Every view is thin: it parses a form, calls one function of
:mod:`posts.services` and turns a :class:`~posts.errors.ServiceError` into an
error next to the field it names. Permissions are the services' (and
:mod:`posts.permissions`'); the desk only hides buttons a person could not
use.

Each form works without JavaScript (POST, then a redirect back to the desk,
or the page re-rendered with its errors and the service's status code). The
desk script sends the same forms with ``Accept: application/json`` and gets
JSON back instead:

- success: ``{"ok": true, "message", "entry", "entry_html"}`` (the entry's
  desk card, rendered by the same template as the page);
- failure: ``{"ok": false, "message", "errors": {field: [messages]}}``, plus
  for a stale edit (409) ``current`` (the entry as now saved) and
  ``form_html`` (the edit form showing the reporter's text beside the saved
  version, its ``version`` moved on so saving again re-applies their text).

The timeline stays current through :func:`desk_state`, polled by the script
every few seconds and at once whenever the blog's SSE channel announces an
event: it lists every entry's id and version, with a freshly rendered card
only for entries changed since the caller's last poll. Drafts, schedules and
approvals make no reader events, which is why the desk polls at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from posts.delivery import channel
from posts.domain import permissions, selectors, services
from posts.domain.errors import Conflict, NotAllowed, NotFound, ServiceError
from posts.domain.models import Author, Blog, Entry, EntryRevision, Membership, Role
from posts.domain.rendering import detect_embed, embed_card, render_markdown
from posts.domain.serializers import entry_dict

from .forms import (
    BlogCreateForm,
    CloseForm,
    ComposerForm,
    EditForm,
    TeamMemberForm,
    add_service_error,
    default_schedule_time,
    local_input,
)

User = get_user_model()

POLL_SECONDS = 5
"""How often the desk script asks :func:`desk_state` (and at once on SSE)."""

ACTION_MESSAGES = {
    "publish": "Published.",
    "draft": "Draft saved.",
    "schedule": "Scheduled.",
    "submit": "Submitted for approval. An editor will publish it.",
}


class DeskLoginView(LoginView):
    template_name = "desk/login.html"
    redirect_authenticated_user = True


class DeskLogoutView(LogoutView):
    next_page = "desk:login"


# --- Helpers ---------------------------------------------------------------


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def form_errors(form) -> dict[str, list[str]]:
    return {name or "__all__": [str(m) for m in errs] for name, errs in form.errors.items()}


def json_failure(*, status: int, message: str, form=None, **extra) -> JsonResponse:
    body = {"ok": False, "message": message, "errors": form_errors(form) if form is not None else {}}
    body.update(extra)
    return JsonResponse(body, status=status)


@dataclass
class EntryActions:
    """Which buttons a person gets on one entry (the services decide for real)."""

    edit: bool
    publish: bool
    approve: bool
    submit: bool
    pin: bool
    place: str  # "queue" (editors' approval queue) or "timeline"


def entry_actions(entry: Entry, *, user, role: str | None) -> EntryActions:
    publisher = role in {Role.EDITOR, Role.REPORTER}
    own_draft = entry.created_by_id == user.pk and entry.status == Entry.Status.DRAFT
    unpublished = entry.status in {Entry.Status.DRAFT, Entry.Status.SCHEDULED}
    approve = role == Role.EDITOR and entry.awaiting_approval
    return EntryActions(
        edit=publisher or (own_draft and role is not None),
        publish=publisher and unpublished and not approve,
        approve=approve,
        submit=own_draft and not publisher and not entry.awaiting_approval,
        pin=publisher and entry.is_published,
        place="queue" if approve else "timeline",
    )


def _decorate(entries: list[Entry], *, user, role) -> list[Entry]:
    for entry in entries:
        entry.desk = entry_actions(entry, user=user, role=role)
    return entries


def render_entry(request: HttpRequest, entry: Entry, *, blog: Blog, role) -> str:
    entry = selectors.desk_entry(blog=blog, entry_id=entry.pk) or entry
    _decorate([entry], user=request.user, role=role)
    return render_to_string("desk/_entry.html", {"entry": entry, "blog": blog}, request=request)


def desk_blog(request: HttpRequest, slug: str) -> tuple[Blog, str]:
    """The blog and the person's role on it; refuses people with no role."""
    blog = selectors.blog_by_slug(slug)
    if blog is None:
        raise NotFound(f"There is no blog '{slug}'.")
    role = permissions.role_for(request.user, blog)
    if role is None:
        raise NotAllowed("You have no role on this blog. Ask an editor to add you to its team.")
    return blog, role


def desk_entry(blog: Blog, entry_id: int) -> Entry:
    entry = Entry.objects.select_related("blog").filter(blog=blog, pk=entry_id).first()
    if entry is None or entry.status == Entry.Status.DELETED:
        raise NotFound("This entry no longer exists (it may have been deleted by a colleague).")
    return entry


def desk_view(view):
    """Log-in required; a ServiceError nobody handled becomes a clear page
    (or JSON) with its status code instead of a 500."""

    @login_required
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ServiceError as error:
            if wants_json(request):
                return json_failure(status=error.status_code, message=error.message)
            return render(
                request, "desk/error.html", {"message": error.message, "status": error.status_code},
                status=error.status_code,
            )

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def back_to_desk(blog: Blog, entry: Entry | None = None) -> HttpResponse:
    url = reverse("desk:blog", kwargs={"slug": blog.slug})
    return redirect(f"{url}#desk-entry-{entry.pk}" if entry is not None else url)


# --- Home and blogs ---------------------------------------------------------


@desk_view
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The blogs I am on (live first), and the newsroom's others."""
    mine, others = selectors.desk_blogs(user=request.user)
    return render(request, "desk/home.html", {
        "mine": mine,
        "others": others,
        "can_create": permissions.can_edit_blog(request.user, None),
    })


@desk_view
@require_http_methods(["GET", "POST"])
def blog_create(request: HttpRequest) -> HttpResponse:
    if not permissions.can_edit_blog(request.user, None):
        raise NotAllowed("Only editors can create blogs.")
    form = BlogCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                blog = services.blog_create(user=request.user, **form.cleaned_data)
            except ServiceError as error:
                add_service_error(form, error)
                status = error.status_code
            else:
                messages.success(request, f"“{blog.title}” is ready. Write the first entry.")
                return redirect("desk:blog", slug=blog.slug)
    return render(request, "desk/blog_create.html", {"form": form}, status=status)


def _desk_page(
    request: HttpRequest,
    blog: Blog,
    role: str,
    *,
    composer: ComposerForm | None = None,
    close_form: CloseForm | None = None,
    team_form: TeamMemberForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    entries = _decorate(selectors.desk_entries(blog=blog), user=user, role=role)
    is_editor = role == Role.EDITOR
    queue = [e for e in entries if e.desk.place == "queue"]
    timeline = [e for e in entries if e.desk.place == "timeline"]
    if composer is None:
        me = Author.objects.get_or_create(user=user)[0]
        composer = ComposerForm(blog=blog, user=user, initial={"authors": [me.pk]})
    context = {
        "blog": blog,
        "role": role,
        "role_label": Role(role).label,
        "is_editor": is_editor,
        "can_publish": role in {Role.EDITOR, Role.REPORTER},
        "composer": composer,
        "schedule_default": default_schedule_time(),
        "queue": queue,
        "timeline": timeline,
        "state_since": f"{time.time():.6f}",
        "poll_seconds": POLL_SECONDS,
        "max_body": settings.LIVEBLOG_MAX_BODY_CHARS,
        "time_zone": settings.TIME_ZONE,
    }
    if is_editor:
        context.update({
            "close_form": close_form or CloseForm(),
            "team_form": team_form or TeamMemberForm(),
            "team": Membership.objects.filter(blog=blog).select_related("user", "user__author")
                                                      .order_by("user__username"),
            "roles": Role.choices,
            "reader_count": channel.reader_count(blog.slug),
            "partners": selectors.blog_webhook_partners(blog=blog),
        })
    return render(request, "desk/blog.html", context, status=status)


@desk_view
@require_GET
def blog_desk(request: HttpRequest, slug: str) -> HttpResponse:
    """The blog's desk: composer, approval queue, timeline, editor's panel."""
    blog, role = desk_blog(request, slug)
    return _desk_page(request, blog, role)


# --- Entries ---------------------------------------------------------------


@desk_view
@require_POST
def entry_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish, save a draft, schedule, or submit for approval (the button pressed)."""
    blog, role = desk_blog(request, slug)
    form = ComposerForm(request.POST, blog=blog, user=request.user)
    status = 400
    if form.is_valid():
        action = form.cleaned_data["action"]
        kwargs = form.service_kwargs()
        kwargs["status"] = {
            "publish": Entry.Status.PUBLISHED,
            "schedule": Entry.Status.SCHEDULED,
        }.get(action, Entry.Status.DRAFT)
        if action == "schedule":
            kwargs["publish_at"] = form.cleaned_data.get("publish_at")
        kwargs["submit"] = action == "submit"
        try:
            entry = services.entry_create(blog=blog, user=request.user, **kwargs)
        except ServiceError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            message = ACTION_MESSAGES[action]
            if action == "schedule":
                message = f"Scheduled for {timezone.localtime(entry.publish_at):%d %b %H:%M} ({settings.TIME_ZONE})."
            if wants_json(request):
                return JsonResponse({
                    "ok": True,
                    "message": message,
                    "entry": _entry_json(entry),
                    "entry_html": render_entry(request, entry, blog=blog, role=role),
                }, status=201)
            messages.success(request, message)
            return back_to_desk(blog, entry)
    if wants_json(request):
        return json_failure(status=status, message=_first_error(form), form=form)
    return _desk_page(request, blog, role, composer=form, status=status)


def _first_error(form) -> str:
    for errs in form.errors.values():
        return str(errs[0])
    return "Please check the form."


def _entry_json(entry: Entry) -> dict:
    fresh = selectors.desk_entry(blog=entry.blog, entry_id=entry.pk)
    data = entry_dict(fresh or entry)
    data["awaiting_approval"] = (fresh or entry).awaiting_approval
    return data


def _edit_form(entry: Entry, *, user, data=None) -> EditForm:
    initial = {
        "headline": entry.headline,
        "body": entry.body,
        "kind": entry.kind,
        "key_event": entry.key_event,
        "pinned": entry.pinned,
        "authors": [a.pk for a in entry.byline],
        "publish_at": local_input(entry.publish_at) or None,
        "version": entry.version,
    }
    form = EditForm(
        data, initial=initial, prefix=f"e{entry.pk}", blog=entry.blog, user=user,
        extra_authors=list(entry.authors.select_related("user")),
    )
    if data is None and entry.publish_at is not None:
        # The desk script shows it in the reporter's own time zone.
        form.fields["publish_at"].widget.attrs["data-utc"] = entry.publish_at.isoformat()
    if entry.kind == Entry.Kind.CLOSING:
        form.fields["kind"].choices = [*form.fields["kind"].choices, (Entry.Kind.CLOSING, "Closing note")]
    return form


@desk_view
@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """Edit in place. A stale version is refused (409) and the saved version
    is shown beside the reporter's text; saving again re-applies theirs."""
    blog, role = desk_blog(request, slug)
    entry = desk_entry(blog, entry_id)
    partial = request.GET.get("partial") == "1" or wants_json(request)
    if request.method == "GET":
        form = _edit_form(entry, user=request.user)
        return _render_edit(request, blog, entry, form, partial=partial)
    form = _edit_form(entry, user=request.user, data=request.POST)
    status, conflict = 400, None
    if form.is_valid():
        data = form.cleaned_data
        kwargs = form.service_kwargs()
        if entry.status == Entry.Status.SCHEDULED and data.get("publish_at"):
            kwargs["publish_at"] = data["publish_at"]
        try:
            entry = services.entry_edit(entry=entry, user=request.user, version=data["version"], **kwargs)
        except Conflict as error:
            status = error.status_code
            if error.current is None:
                form.add_error(None, error.message)
            else:
                conflict = error.current
                form = _edit_form(entry, user=request.user, data=_moved_on(request.POST, form, conflict))
                form.add_error(None, error.message)
        except ServiceError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            message = "Saved." if entry.is_published else "Draft saved."
            if wants_json(request):
                return JsonResponse({
                    "ok": True,
                    "message": message,
                    "entry": _entry_json(entry),
                    "entry_html": render_entry(request, entry, blog=blog, role=role),
                })
            messages.success(request, message)
            return back_to_desk(blog, entry)
    if wants_json(request):
        form_html = _render_edit(request, blog, entry, form, partial=True, conflict=conflict).content.decode()
        return json_failure(
            status=status, message=_first_error(form), form=form, current=conflict, form_html=form_html,
        )
    return _render_edit(request, blog, entry, form, partial=False, conflict=conflict, status=status)


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


def _entry_done(request, blog, role, entry, message: str) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({
            "ok": True, "message": message, "entry": _entry_json(entry),
            "entry_html": render_entry(request, entry, blog=blog, role=role),
        })
    messages.success(request, message)
    return back_to_desk(blog, entry)


@desk_view
@require_POST
def entry_publish(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """Publish a draft or scheduled entry now; for an editor and a submitted
    draft this is the approval."""
    blog, role = desk_blog(request, slug)
    entry = desk_entry(blog, entry_id)
    if entry.awaiting_approval and role == Role.EDITOR:
        entry = services.entry_approve(entry=entry, user=request.user)
        return _entry_done(request, blog, role, entry, "Approved and published.")
    entry = services.entry_publish(entry=entry, user=request.user)
    return _entry_done(request, blog, role, entry, "Published.")


@desk_view
@require_POST
def entry_submit(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    blog, role = desk_blog(request, slug)
    entry = services.entry_submit(entry=desk_entry(blog, entry_id), user=request.user)
    return _entry_done(request, blog, role, entry, ACTION_MESSAGES["submit"])


@desk_view
@require_POST
def entry_pin(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    blog, role = desk_blog(request, slug)
    pinned = request.POST.get("pinned") == "1"
    entry = services.entry_pin(entry=desk_entry(blog, entry_id), user=request.user, pinned=pinned)
    return _entry_done(request, blog, role, entry, "Pinned to the top." if pinned else "Unpinned.")


@desk_view
@require_http_methods(["GET", "POST"])
def entry_delete(request: HttpRequest, slug: str, entry_id: int) -> HttpResponse:
    """GET asks for confirmation (the page without JavaScript; the script
    asks with a dialog instead); POST deletes. A ``version`` in the POST
    refuses to delete an entry a colleague changed meanwhile."""
    blog, role = desk_blog(request, slug)
    entry = desk_entry(blog, entry_id)
    if request.method == "GET":
        return render(request, "desk/entry_delete.html", {"blog": blog, "entry": entry})
    try:
        version = int(request.POST["version"]) if request.POST.get("version") else None
    except ValueError:
        version = None
    try:
        services.entry_delete(entry=entry, user=request.user, version=version)
    except Conflict as error:
        if wants_json(request):
            return json_failure(status=409, message=error.message, current=error.current)
        return render(
            request, "desk/entry_delete.html",
            {"blog": blog, "entry": desk_entry(blog, entry_id), "error": error.message}, status=409,
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
    entry = Entry.objects.select_related("blog").filter(blog=blog, pk=entry_id).first()
    if entry is None:
        raise Http404
    if entry.status == Entry.Status.DELETED and not permissions.can_publish(request.user, blog):
        raise NotFound("This entry was deleted.")
    revisions = list(
        EntryRevision.objects.filter(entry=entry).select_related("edited_by", "edited_by__author")
        .order_by("-version")
    )
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


# --- Editors: close, open, team ---------------------------------------------


@desk_view
@require_POST
def blog_close(request: HttpRequest, slug: str) -> HttpResponse:
    blog, role = desk_blog(request, slug)
    form = CloseForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            services.blog_close(
                blog=blog, user=request.user,
                body=form.cleaned_data["close_body"], headline=form.cleaned_data["close_headline"],
            )
        except ServiceError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            messages.success(request, "The blog is closed; the closing note is pinned at the top.")
            return back_to_desk(blog)
    return _desk_page(request, blog, role, close_form=form, status=status)


@desk_view
@require_POST
def blog_open(request: HttpRequest, slug: str) -> HttpResponse:
    """Take a draft blog live, or reopen a closed one."""
    blog, _role = desk_blog(request, slug)
    was = blog.status
    services.blog_open(blog=blog, user=request.user)
    messages.success(request, "The blog is live again." if was == Blog.Status.CLOSED else "The blog is live.")
    return back_to_desk(blog)


@desk_view
@require_POST
def team_set(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a colleague to the team, or change their role."""
    blog, role = desk_blog(request, slug)
    form = TeamMemberForm(request.POST)
    status = 400
    if form.is_valid():
        member = User.objects.get(username=form.cleaned_data["username"])
        try:
            services.team_set_member(blog=blog, user=request.user, member=member, role=form.cleaned_data["role"])
        except ServiceError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            messages.success(request, f"{member.get_username()} is now {form.cleaned_data['role']} on this blog.")
            return redirect(reverse("desk:blog", kwargs={"slug": blog.slug}) + "#team")
    return _desk_page(request, blog, role, team_form=form, status=status)


@desk_view
@require_POST
def team_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    blog, _role = desk_blog(request, slug)
    member = User.objects.filter(pk=user_id).first()
    if member is None:
        raise NotFound("No such person.")
    services.team_remove_member(blog=blog, user=request.user, member=member)
    messages.success(request, f"{member.get_username()} left the team.")
    return redirect(reverse("desk:blog", kwargs={"slug": blog.slug}) + "#team")


# --- Script endpoints ---------------------------------------------------------


@desk_view
@require_POST
def preview(request: HttpRequest) -> JsonResponse:
    """Markdown as readers will see it, and which pasted links will embed.

    A link embeds when it stands alone on its line; one that is recognised
    but sits inside a sentence is reported so the reporter can move it.
    """
    if not permissions.can_write(request.user, None) and not request.user.memberships.exists():
        raise NotAllowed("You have no role in the newsroom.")
    body = request.POST.get("body", "")
    if len(body) > settings.LIVEBLOG_MAX_BODY_CHARS:
        return json_failure(
            status=413,
            message=f"The body is {len(body):,} characters; the limit is {settings.LIVEBLOG_MAX_BODY_CHARS:,}.",
        )
    embeds = []
    for line in body.splitlines():
        for word in line.split():
            word = word.strip("<>()")
            found = detect_embed(word)
            if found is None:
                continue
            alone = line.strip().strip("<>") == word
            embeds.append({
                "provider": found["provider"],
                "url": word,
                "embeds": alone,
                "card": embed_card(word) if alone else None,
            })
    return JsonResponse({"ok": True, "html": render_markdown(body), "embeds": embeds, "chars": len(body)})


@desk_view
@require_GET
def desk_state(request: HttpRequest, slug: str) -> JsonResponse:
    """The desk timeline now: every entry's id, version and status, in
    display order, with a rendered card for those changed since ``since``
    (seconds since the epoch, from the previous answer's ``now``)."""
    blog, role = desk_blog(request, slug)
    now = time.time()
    try:
        since = float(request.GET.get("since", "0"))
    except ValueError:
        since = 0.0
    # A second of overlap covers clocks and commits racing the last poll.
    changed_after = datetime.fromtimestamp(max(0.0, since - 1.0), tz=UTC)
    entries = _decorate(selectors.desk_entries(blog=blog), user=request.user, role=role)
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
    return JsonResponse({
        "now": f"{now:.6f}",
        "blog": {"status": blog.status, "seq": blog.last_seq, "title": blog.title},
        "reader_count": channel.reader_count(blog.slug),
        "entries": items,
    })
