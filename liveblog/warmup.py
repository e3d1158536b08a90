"""Load everything a request will need at start-up, then take the start-up
heap out of the garbage collector's sight.

Why: an app process holds ~130,000 long-lived objects once Django, the URL
conf, django-ninja's schemas and Celery are imported. CPython's full (gen 2)
collection walks all of them: measured 52 ms per collection in this project
(``gc.collect()`` after loading the URL conf, PostgreSQL + Redis settings).
Those collections land on random requests and were the publish API's p99
tail in the bench (bench/PROFILING.md). :func:`gc.freeze` moves the objects
alive now into a permanent generation that collections skip (0.002 ms
afterwards); objects created later are collected as usual.

Called by ``liveblog/asgi.py`` and ``liveblog/wsgi.py`` once the application
exists, and by the Celery worker in each child process (``liveblog/celery.py``).
"""

import gc


def freeze_startup_heap() -> None:
    from django.urls import get_resolver

    # The URL conf imports every view module (and the API with its schemas);
    # Django would otherwise do it on the first request, after the freeze.
    get_resolver().url_patterns  # noqa: B018 - imported for its side effect
    gc.collect()
    gc.freeze()
