"""Desk actions on readers' questions (answer, dismiss) and an editor's blog
settings (questions on or off, the scheduled opening). Plain forms that
redirect back; the queue itself follows the desk state (docs/questions.md)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from posts.domain import selectors, services
from posts.domain.errors import ServiceError

from .common import back_to_desk, desk_blog, desk_view
from .forms import AnswerForm, BlogSettingsForm, add_service_error
from .views import desk_page


@desk_view
@require_POST
def question_answer(request: HttpRequest, slug: str, question_id: int) -> HttpResponse:
    """Publish an entry quoting the question, with the reporter's answer."""
    blog, role = desk_blog(request, slug)
    question = selectors.desk_question(blog=blog, question_id=question_id)
    form = AnswerForm(request.POST, prefix=f"q{question.pk}")
    status = 400
    if form.is_valid():
        try:
            entry = services.question_answer(
                question=question, user=request.user, body=form.cleaned_data["answer"],
                headline=form.cleaned_data["answer_headline"], key_event=form.cleaned_data["answer_key_event"],
            )
        except ServiceError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            messages.success(request, f"Answered {question.asker}: the answer is published.")
            return back_to_desk(blog, entry)
    return desk_page(request, blog, role, answer_forms={question.pk: form}, status=status)


@desk_view
@require_POST
def question_dismiss(request: HttpRequest, slug: str, question_id: int) -> HttpResponse:
    """Leave a question unanswered; readers never see it."""
    blog, _role = desk_blog(request, slug)
    question = selectors.desk_question(blog=blog, question_id=question_id)
    services.question_dismiss(question=question, user=request.user)
    messages.success(request, "Question dismissed. It was never public and now leaves the queue.")
    return back_to_desk(blog, anchor="questions")


@desk_view
@require_POST
def blog_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Readers' questions on or off; a draft's opening time (empty: none)."""
    blog, role = desk_blog(request, slug)
    form = BlogSettingsForm(request.POST)
    status = 400
    if form.is_valid():
        changes = {"questions_enabled": form.cleaned_data["questions_enabled"]}
        if blog.status == blog.Status.DRAFT:
            changes["opens_at"] = form.cleaned_data["opens_at"]
        try:
            services.blog_update(blog=blog, user=request.user, **changes)
        except ServiceError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            if blog.opens_at:
                when = timezone.localtime(blog.opens_at)
                messages.success(request, f"Saved. The blog opens by itself at {when:%d %b %H:%M} ({when:%Z}).")
            else:
                messages.success(request, "Saved.")
            return back_to_desk(blog, anchor="settings")
    return desk_page(request, blog, role, settings_form=form, status=status)
