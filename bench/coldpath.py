"""Cache-miss timings of the read side, measured inside one Django process.

``python -m bench.coldpath --url /live/bench-50/ --url /live/bench-5000/feed.rss
--iterations 30 [--login bench-editor]`` prints one JSON line: per URL, the
median, p90 and min of the server-side time in milliseconds, the median
CPU time of the serving thread, the SQL
queries one request makes, the status and the response size.

Every cached response is a miss by construction: the cache the profile
configures (Redis, or local memory on the embedded default) is wrapped so it
stores and finds no ``resp:`` key, so each request does the whole work --
queries, rendering, serialization -- against the real database the
environment names. The rest of the cache stays as it is after a write: the
blog's version, and the fragments of the entries the write did not touch
(docs/performance.md); ``--cold-fragments`` drops those too. The time is that of Django's test client calling the full
middleware stack, without the network and nginx, which are measured
elsewhere in the bench; three untimed requests per URL warm the database
connection, the template cache and the fragments first. URLs under
``/desk/`` are read by a client logged in as ``--login``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache

from liveblog.redis_pool import RedisCache


class _Misses:
    """A cache that never stores or finds keys starting with ``dropped``."""

    dropped: tuple[str, ...] = ("resp:",)

    def _kept(self, key) -> bool:
        return not str(key).startswith(self.dropped)

    def get(self, key, default=None, version=None):
        return super().get(key, default, version) if self._kept(key) else default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        if self._kept(key):
            super().set(key, value, timeout, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return super().add(key, value, timeout, version) if self._kept(key) else True

    def get_many(self, keys, version=None):
        return super().get_many([k for k in keys if self._kept(k)], version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return super().set_many({k: v for k, v in data.items() if self._kept(k)}, timeout, version)


class LocMemMisses(_Misses, LocMemCache):
    pass


class RedisMisses(_Misses, RedisCache):
    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--login", default=None, help="username for the URLs under /desk/")
    parser.add_argument("--cold-fragments", action="store_true", help="no entry fragment cached either")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")
    import django

    django.setup()
    from liveblog.warmup import freeze_startup_heap

    freeze_startup_heap()  # as the app processes do (liveblog/asgi.py)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    if args.cold_fragments:
        _Misses.dropped = ("resp:", "frag:")
    default = dict(settings.CACHES["default"])
    redis = default["BACKEND"].endswith("RedisCache")
    default["BACKEND"] = f"bench.coldpath.{'RedisMisses' if redis else 'LocMemMisses'}"
    caches = {**settings.CACHES, "default": default}
    results = {}
    with override_settings(CACHES=caches, ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"]):
        reader = Client()
        desk = Client()
        if args.login:
            desk.force_login(get_user_model().objects.get(username=args.login))

        def get(url: str):
            client = desk if url.startswith("/desk/") else reader
            response = client.get(url)
            body = b"".join(response) if response.streaming else response.content
            return response, body

        for url in args.url:
            for _ in range(3):
                get(url)
        samples = {url: [] for url in args.url}
        cpu = {url: [] for url in args.url}
        status, size, queries = {}, {}, {}
        # Round-robin over the URLs, so a burst of noise from a neighbour on
        # a shared machine lands on all of them alike and ratios stay fair;
        # in a new order each round, so no URL always follows the same one
        # (the read after the desk's page paid ~0.5 ms for it, every round:
        # bench/PROFILING.md, "Third pass").
        for round_ in range(args.iterations):
            for url in random.Random(round_).sample(args.url, len(args.url)):  # noqa: S311 - an order, not a secret
                started, started_cpu = time.perf_counter(), time.thread_time()
                response, body = get(url)
                samples[url].append((time.perf_counter() - started) * 1000)
                cpu[url].append((time.thread_time() - started_cpu) * 1000)
                status[url], size[url] = response.status_code, len(body)
        # Counted apart from the timed requests (recording SQL costs time).
        for url in args.url:
            with CaptureQueriesContext(connection) as captured:
                get(url)
            queries[url] = len(captured.captured_queries)
        for url, times in samples.items():
            times.sort()
            results[url] = {
                "median_ms": round(statistics.median(times), 2),
                "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
                "min_ms": round(times[0], 2),
                # This thread's CPU time: less moved by neighbours than the
                # wall-clock time, but without the database server's own work.
                "cpu_ms": round(statistics.median(cpu[url]), 2),
                "queries": queries[url],
                "status": status[url],
                "bytes": size[url],
            }
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
