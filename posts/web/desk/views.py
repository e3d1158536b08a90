"""The reporter desk's pages: log-in, the blog list, a blog's desk, and the
editor's forms (create, close, open, team). Entry actions are in
:mod:`.entries`, the script's endpoints in :mod:`.script`.

Every view parses, calls one service or selector, and replies; every form
works without JavaScript (docs/desk.md)."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from posts.delivery import channel
from posts.domain import permissions, selectors, services
from posts.domain.errors import NotAllowed, NotFound, ServiceError
from posts.domain.models import Blog, Entry, Role
from posts.domain.serializers import absolute_url
from posts.web import embed_views, fragments

from .actions import decorate
from .common import back_to_desk, desk_blog, desk_view
from .forms import (
    AnswerForm,
    BlogCreateForm,
    BlogSettingsForm,
    CloseForm,
    ComposerForm,
    ReturnForm,
    TeamMemberForm,
    add_service_error,
    local_input,
)

POLL_SECONDS = 5
"""How often the desk script asks for the desk state (and at once on SSE)."""


class DeskLoginView(LoginView):
    template_name = "desk/login.html"
    redirect_authenticated_user = True


class DeskLogoutView(LogoutView):
    next_page = "desk:login"


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


def desk_page(
    request: HttpRequest,
    blog: Blog,
    role: str,
    *,
    composer: ComposerForm | None = None,
    close_form: CloseForm | None = None,
    team_form: TeamMemberForm | None = None,
    settings_form: BlogSettingsForm | None = None,
    answer_forms: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    """A blog's desk: the composer beside the live timeline, the approval
    queue and the drafts under the composer, the editor's tools below."""
    user = request.user
    entries, has_older = selectors.desk_entries_page(blog=blog, light=True)
    entries = decorate(entries, user=user, role=role)
    is_editor = role == Role.EDITOR
    timeline = [e for e in entries if e.desk.place == "timeline"]
    fragments.desk_cards(request, entries, blog=blog)
    # The editor's team panel and the byline choices share one read of the team.
    team = selectors.blog_team(blog=blog) if is_editor else None
    composer_html = None
    if composer is None:  # a new entry's composer: the same for every read of this desk
        me = selectors.author_of(user)
        composer = ComposerForm(blog=blog, user=user, team=team, initial={"authors": [me.pk] if me else []})
        composer_html = fragments.desk_composer(
            request, composer, blog=blog, can_publish=context_can_publish(role),
            max_body=settings.LIVEBLOG_MAX_BODY_CHARS,
        )
    context = {
        "blog": blog,
        "role": role,
        "role_label": Role(role).label,
        "is_editor": is_editor,
        "can_publish": role in {Role.EDITOR, Role.REPORTER},
        "composer": composer,
        "composer_html": composer_html,
        "queue": [e for e in entries if e.desk.place == "queue"],
        "pending": [e for e in entries if e.desk.place == "pending"],
        "timeline": timeline,
        "has_older": has_older,
        "return_form": ReturnForm(),
        "state_since": f"{time.time():.6f}",
        "poll_seconds": POLL_SECONDS,
        "max_body": settings.LIVEBLOG_MAX_BODY_CHARS,
        "embed_snippet": embed_views.snippet(blog.slug, title=blog.title),
        "blog_url": absolute_url(blog.get_absolute_url()),
        "quiet_since": selectors.quiet_since(
            blog=blog, timeline=[e for e in entries if e.status == Entry.Status.PUBLISHED]
        ),
        "questions": question_cards(blog, forms=answer_forms) if context_can_publish(role) else [],
    }
    if is_editor:
        context.update({
            "close_form": close_form or CloseForm(),
            "team_form": team_form or TeamMemberForm(),
            "team": team,
            "roles": Role.choices,
            "reader_count": channel.reader_count(blog.slug),
            "partners": selectors.blog_webhook_partners(blog=blog),
            "settings_form": settings_form or blog_settings_form(blog),
        })
    return render(request, "desk/blog.html", context, status=status)


def context_can_publish(role: str) -> bool:
    return role in {Role.EDITOR, Role.REPORTER}


def question_cards(blog: Blog, *, forms: dict | None = None) -> list:
    """The pending questions, each with its answer form (a failed one keeps
    what the reporter typed)."""
    forms = forms or {}
    questions = selectors.pending_questions(blog=blog)
    for question in questions:
        question.form = forms.get(question.pk) or AnswerForm(prefix=f"q{question.pk}")
    return questions


def blog_settings_form(blog: Blog) -> BlogSettingsForm:
    form = BlogSettingsForm(initial={
        "questions_enabled": blog.questions_enabled, "opens_at": local_input(blog.opens_at) or None,
    })
    if blog.opens_at is not None:
        # The desk script shows it in the editor's own time zone.
        form.fields["opens_at"].widget.attrs["data-utc"] = blog.opens_at.isoformat()
    return form


@desk_view
@require_GET
def blog_desk(request: HttpRequest, slug: str) -> HttpResponse:
    blog, role = desk_blog(request, slug)
    return desk_page(request, blog, role)


@desk_view
@require_GET
def blog_desk_older(request: HttpRequest, slug: str) -> HttpResponse:
    """The published entries older than the desk's timeline, a page at a
    time, as the same cards: fixing or deleting an old entry is rare, so the
    desk shows the newest and links here (docs/desk.md)."""
    blog, role = desk_blog(request, slug)
    before = request.GET.get("before") or None
    try:
        page = selectors.desk_timeline(
            blog=blog, before=before, skip=0 if before else selectors.DESK_TIMELINE, light=True
        )
    except selectors.InvalidCursor:
        return redirect("desk:blog-older", slug=blog.slug)
    entries = decorate(page.items, user=request.user, role=role)
    fragments.desk_cards(request, entries, blog=blog)
    return render(request, "desk/blog_older.html", {
        "blog": blog, "role": role, "entries": entries, "older_cursor": page.next, "first": before is None,
    })


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
    return desk_page(request, blog, role, close_form=form, status=status)


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
def blog_reader_count(request: HttpRequest, slug: str) -> HttpResponse:
    """Show or hide "N reading now" on the public page (editors)."""
    blog, _role = desk_blog(request, slug)
    show = request.POST.get("show") == "1"
    services.blog_update(blog=blog, user=request.user, show_reader_count=show)
    messages.success(request, "Readers now see how many are reading." if show else "The reader count is hidden from readers.")
    return back_to_desk(blog)


@desk_view
@require_POST
def team_set(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a colleague to the team, or change their role."""
    blog, role = desk_blog(request, slug)
    form = TeamMemberForm(request.POST)
    status = 400
    if form.is_valid():
        member = form.member
        try:
            services.team_set_member(blog=blog, user=request.user, member=member, role=form.cleaned_data["role"])
        except ServiceError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            messages.success(request, f"{member.get_username()} is now {form.cleaned_data['role']} on this blog.")
            return back_to_desk(blog, anchor="team")
    return desk_page(request, blog, role, team_form=form, status=status)


@desk_view
@require_POST
def team_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    blog, _role = desk_blog(request, slug)
    member = selectors.find_user(user_id=user_id, active_only=False)
    if member is None:
        raise NotFound("No such person.")
    services.team_remove_member(blog=blog, user=request.user, member=member)
    messages.success(request, f"{member.get_username()} left the team.")
    return back_to_desk(blog, anchor="team")
