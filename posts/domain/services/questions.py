"""Reader questions: asked from the live page, answered in an entry that
quotes them, or dismissed (docs/questions.md). A question is never public
until answered: asking writes no event, only the answer's entry does."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from posts.domain import permissions
from posts.domain.errors import Conflict, ErrorCode, Invalid, NotFound, TooLarge
from posts.domain.models import Blog, Entry, Question
from posts.domain.text import clean_text

from ._writing import clean_body
from .entries import entry_create
from .outbox import require

NAME_MAX = 80

# Python-Markdown's escapable punctuation (with "extra"): a reader's words are
# quoted as they were typed, never rendered as their Markdown.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!:|>])")


def question_ask(*, blog: Blog, body: str, name: str = "") -> Question:
    """Put a reader's question in the blog's moderation queue."""
    body = clean_text(body, field="body").strip()
    name = " ".join(clean_text(name or "", field="name").split())
    if not body:
        raise Invalid("Write your question first.", field="body")
    if len(body) > settings.LIVEBLOG_QUESTION_MAX_CHARS:
        raise TooLarge(
            f"Your question is {len(body):,} characters; keep it under {settings.LIVEBLOG_QUESTION_MAX_CHARS:,}.",
            field="body",
        )
    if len(name) > NAME_MAX:
        raise Invalid(f"Keep your name under {NAME_MAX} characters.", field="name")
    if blog.status != Blog.Status.LIVE or not blog.questions_enabled:
        raise Conflict(_("This live blog is not taking questions now."), code=ErrorCode.QUESTIONS_CLOSED)
    return Question.objects.create(blog=blog, body=body, name=name)


def quote_question(question: Question) -> str:
    """The Markdown quote that opens an answer: who asked, then their words
    as typed (escaped, so a reader's Markdown or HTML shows as text)."""
    def literal(text: str) -> str:
        text = text.replace("&", "&amp;").replace("<", "&lt;")
        return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)

    lines = [f"**{literal(question.asker[:1].upper() + question.asker[1:])} asks:**", ""]
    lines += [literal(line) for line in question.body.splitlines()]
    return "\n".join(f"> {line}".rstrip() for line in lines)


def _locked_pending(question: Question) -> Question:
    current = Question.objects.select_for_update().select_related("blog").filter(pk=question.pk).first()
    if current is None:
        raise NotFound("This question no longer exists.")
    if current.status != Question.Status.PENDING:
        raise Conflict(
            _("This question was already %(status)s.") % {"status": current.get_status_display().lower()},
            code=ErrorCode.QUESTION_HANDLED,
        )
    return current


def question_answer(*, question: Question, user, body: str, headline: str = "", key_event: bool = False) -> Entry:
    """Publish an entry that quotes the question (with the reader's name or
    "a reader") and answers it; the question leaves the queue."""
    require(permissions.can_publish, user, question.blog, "Only reporters and editors answer readers' questions.")
    answer = clean_body(body)
    with transaction.atomic():
        current = _locked_pending(question)
        entry = entry_create(
            blog=current.blog, user=user, headline=headline, key_event=key_event,
            body=f"{quote_question(current)}\n\n{answer}",
        )
        current.status = Question.Status.ANSWERED
        current.answer = entry
        current.handled_by = user
        current.handled_at = timezone.now()
        current.save(update_fields=["status", "answer", "handled_by", "handled_at"])
    question.refresh_from_db()
    return entry


def question_dismiss(*, question: Question, user) -> Question:
    """Leave a question unanswered; it is never shown to readers."""
    require(permissions.can_publish, user, question.blog, "Only reporters and editors handle readers' questions.")
    with transaction.atomic():
        current = _locked_pending(question)
        current.status = Question.Status.DISMISSED
        current.handled_by = user
        current.handled_at = timezone.now()
        current.save(update_fields=["status", "handled_by", "handled_at"])
    return current
