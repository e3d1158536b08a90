"""The operator's endpoints: health, readiness, metrics (docs/operations.md)."""

from django.urls import path

from posts.web import health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]
