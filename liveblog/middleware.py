"""A base for middleware that runs code around the view, sync or async.

Django's ``MiddlewareMixin`` would run the hooks through ``sync_to_async``
(a thread hop per request, SSE streams included); this keeps both paths on
their own side and writes the dispatch once."""

from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


class AroundMiddleware:
    """Subclasses give ``before(request) -> state``, ``after(request,
    response, state) -> response`` and ``finish(state)`` (always run)."""

    # Without these Django takes a middleware for sync-only and runs it (and
    # what it wraps) through one thread per process: a storm of SSE resumes
    # then queues every other request, writes included, behind it.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def before(self, request):
        return None

    def after(self, request, response, state):
        return response

    def finish(self, state) -> None:
        pass

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        state = self.before(request)
        try:
            return self.after(request, self.get_response(request), state)
        finally:
            self.finish(state)

    async def __acall__(self, request):
        state = self.before(request)
        try:
            return self.after(request, await self.get_response(request), state)
        finally:
            self.finish(state)
