"""ASGI entry point: ``uvicorn liveblog.asgi:application`` (or granian).

Serve the project under ASGI: the SSE endpoint (``/live/<slug>/events``,
:mod:`posts.web.sse`) is an async view, so each open reader costs a coroutine
and a queue on the event loop, not a thread. Several worker processes are
fine with ``REDIS_URL`` set (the Redis live channel fans out to each).
The lifespan starts the embedded scheduler (:mod:`liveblog.scheduler`) where
no Celery beat runs.
"""

import os

from django.core.asgi import get_asgi_application

from liveblog import scheduler
from liveblog.warmup import freeze_startup_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")

django_application = get_asgi_application()

from posts.web import sse, vote_fast  # noqa: E402 - needs the apps loaded

# Votes' and resumes' hot paths answered before Django (docs/polls.md,
# docs/events.md); the rest is Django.
application = scheduler.lifespan(vote_fast.wrap(sse.wrap(django_application)))
freeze_startup_heap()
