"""WSGI entry point (the SSE endpoint needs ASGI: see ``liveblog/asgi.py``)."""

import os

from django.core.wsgi import get_wsgi_application

from liveblog.warmup import freeze_startup_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")

application = get_wsgi_application()
freeze_startup_heap()
