"""A database outage answers 503 with ``Retry-After``, never a 500 page.

The API maps the same errors to its JSON 503 (``posts.web.api.endpoints``);
this covers pages, feeds and the desk. A CDN in front (deploy/cluster's
Varnish) then serves its stale copy (``stale-if-error``). See
deploy/README.md.
"""

from __future__ import annotations

import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    # Both modes: an async request (SSE) stays on the event loop; only
    # process_exception, on a failure, runs in a thread.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        response = HttpResponse(
            "Service temporarily unavailable; try again shortly.\n", status=503, content_type="text/plain; charset=utf-8"
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
