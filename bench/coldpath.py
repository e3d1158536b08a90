"""Cache-miss timings of the read side, measured inside one Django process.

``python -m bench.coldpath --url /live/bench-50/ --url /live/bench-5000/feed.rss
--iterations 30`` prints one JSON line: per URL, the median, p90 and min of
the server-side time in milliseconds, the status and the response size.

Every cache is a miss by construction: the cache backend is swapped for
Django's ``DummyCache`` (stores nothing), so each request does the whole
work -- queries, rendering, serialization -- against the real database the
environment names (PostgreSQL in the bench). The time is that of Django's
test client calling the full middleware stack, without the network and
nginx, which are measured elsewhere in the bench; three untimed requests per
URL warm the database connection and the template cache first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")
    import django

    django.setup()
    from liveblog.warmup import freeze_startup_heap

    freeze_startup_heap()  # as the app processes do (liveblog/asgi.py)
    from django.test import Client
    from django.test.utils import override_settings

    results = {}
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}},
        ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
    ):
        client = Client()
        for url in args.url:
            for _ in range(3):
                client.get(url)
        samples = {url: [] for url in args.url}
        status, size = {}, {}
        # Round-robin over the URLs, so a burst of noise from a neighbour on
        # a shared machine lands on all of them alike and ratios stay fair.
        for _ in range(args.iterations):
            for url in args.url:
                started = time.perf_counter()
                response = client.get(url)
                body = b"".join(response) if response.streaming else response.content
                samples[url].append((time.perf_counter() - started) * 1000)
                status[url], size[url] = response.status_code, len(body)
        for url, times in samples.items():
            times.sort()
            results[url] = {
                "median_ms": round(statistics.median(times), 2),
                "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
                "min_ms": round(times[0], 2),
                "status": status[url],
                "bytes": size[url],
            }
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
