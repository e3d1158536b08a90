"""Structured logs: one JSON object a line, each carrying the request id that
nginx made (``X-Request-ID``) through the request, its Celery tasks and their
webhook attempts; error tracking through Sentry when ``SENTRY_DSN`` is set.
See docs/operations.md ("Logs and errors").
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

from liveblog.middleware import AroundMiddleware

REQUEST_ID_HEADER = "X-Request-ID"
# nginx's $request_id is 32 hex digits; a client's own id is accepted if it
# is short and plain (it goes into every log line of the request).
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's id if it is well formed, else a fresh one."""
    if value and _VALID_ID.match(value):
        return value
    return new_request_id()


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (empty outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.get()
        return True


class JsonLines(JsonFormatter):
    """python-json-logger with our field names: ts, level, logger, message,
    request_id, and whatever ``extra=`` a call passed."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("rename_fields", {"asctime": "ts", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s", *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class RequestIdMiddleware(AroundMiddleware):
    """Takes nginx's ``X-Request-ID`` (or makes one), keeps it for the
    request's logs and tasks, and returns it on the response."""

    def before(self, request):
        return request_id.set(accept_request_id(request.headers.get(REQUEST_ID_HEADER)))

    def after(self, request, response, state):
        response[REQUEST_ID_HEADER] = request_id.get()
        return response

    def finish(self, state) -> None:
        request_id.reset(state)


# --- Celery: the id travels in the task message's headers --------------------


def _task_publish(headers: dict | None = None, **kwargs) -> None:
    current = request_id.get()
    if headers is not None and current and "request_id" not in headers:
        headers["request_id"] = current


_task_tokens: dict[str, contextvars.Token] = {}


def _task_prerun(task_id: str | None = None, task=None, **kwargs) -> None:
    if task is None or task.request.is_eager:
        return  # an eager task runs inside the caller's context already
    value = getattr(task.request, "request_id", None) or (task.request.headers or {}).get("request_id")
    _task_tokens[task_id] = request_id.set(accept_request_id(value or task_id))


def _task_postrun(task_id: str | None = None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        request_id.reset(token)


def _celery_logging(loglevel=None, **kwargs) -> None:
    """Workers log like the app (JSON lines with the request id) instead of
    Celery's own format: Celery configures nothing when this is connected.
    Celery's own loggers keep the worker's ``-l`` level ("ready.", task
    received/succeeded at INFO)."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger("celery").setLevel(loglevel if isinstance(loglevel, int) else str(loglevel).upper())


def connect_celery_signals() -> None:
    from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

    setup_logging.connect(_celery_logging, weak=False)
    before_task_publish.connect(_task_publish, weak=False)
    task_prerun.connect(_task_prerun, weak=False)
    task_postrun.connect(_task_postrun, weak=False)


# --- Settings helpers ------------------------------------------------------------


def logging_config(*, level: str, app_level: str, json_logs: bool, log_file: str = "") -> dict:
    """The LOGGING dict: JSON lines (or plain text for a developer's
    terminal) to stderr, or to ``log_file`` through a WatchedFileHandler
    (reopened after logrotate moves it: deploy/logrotate.conf.template)."""
    handler: dict = {"formatter": "json" if json_logs else "plain", "filters": ["request_id"]}
    if log_file:
        handler.update({"class": "logging.handlers.WatchedFileHandler", "filename": log_file})
    else:
        handler["class"] = "logging.StreamHandler"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "liveblog.logging.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "liveblog.logging.JsonLines"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"posts": {"level": app_level, "propagate": True}},
    }


def init_sentry(dsn: str, *, environment: str = "", release: str = "") -> bool:
    """Error tracking through sentry-sdk, only when a DSN is set. No personal
    data, no request bodies, no local variables: an entry's text (which a
    takedown must remove everywhere) never leaves in an error report."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=0.0,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
    return True
