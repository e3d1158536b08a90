from django.urls import path
from django.views.decorators.http import require_safe

from posts.web.api.endpoints import api

_patterns, _app, _namespace = api.urls
# ninja serves its document and its docs page to any method; both are reads.
for _pattern in _patterns:
    if _pattern.name in {"openapi-json", "openapi-view"}:
        _pattern.callback = require_safe(_pattern.callback)

urlpatterns = [path("", (_patterns, _app, _namespace))]
