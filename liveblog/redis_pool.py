"""One Redis connection pool per process for Django's cache.

Django keeps its cache objects per context, and under ASGI every request
runs in a context of its own, so each request made a new ``RedisCache``, a
new connection pool and a new TCP connection to Redis (closed only when the
garbage collector found it). ``CACHES["default"]["OPTIONS"]["pool_class"]``
names this class: its ``from_url`` hands every cache object of the process
the same pool. redis-py's pools are thread-safe and start afresh in a forked
child. Measured in bench/RESULTS.md (the fault drill's resumes).
"""

from __future__ import annotations

import threading

import redis

_pools: dict[tuple, redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **kwargs)
        return pool
