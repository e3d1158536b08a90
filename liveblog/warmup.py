"""Load what a request needs at start-up, then ``gc.freeze()`` that heap so
full collections skip it (52 ms → 0.002 ms each; bench/PROFILING.md,
docs/performance.md)."""

import gc


def freeze_startup_heap() -> None:
    from django.urls import get_resolver

    # The URL conf imports every view module (and the API with its schemas);
    # Django would otherwise do it on the first request, after the freeze.
    get_resolver().url_patterns  # noqa: B018 - imported for its side effect
    gc.collect()
    gc.freeze()
