"""One Redis connection pool per process for Django's cache.

Django keeps its cache objects per context, and under ASGI every request
runs in a context of its own, so each request made a new ``RedisCache``, a
new connection pool and a new TCP connection to Redis (closed only when the
garbage collector found it). ``CACHES["default"]["OPTIONS"]["pool_class"]``
names this class: its ``from_url`` hands every cache object of the process
the same pool. redis-py's pools are thread-safe and start afresh in a forked
child. Measured in bench/RESULTS.md (the fault drill's resumes).

:class:`RedisCache` (the cache's ``BACKEND``) also keeps one ``redis.Redis``
per pool instead of one per cache call.
"""

from __future__ import annotations

import threading

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

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


_clients: dict[redis.ConnectionPool, redis.Redis] = {}


class _ReusingClient(RedisCacheClient):
    """Django's client builds a ``redis.Redis`` for every cache call (its
    response-callback table alone is a few hundred dict writes): 67 µs of
    the 236 µs a ``cache.get`` took (bench/PROFILING.md, "Third pass").
    A ``redis.Redis`` takes a connection from its pool per command and is
    safe to share between threads, so one per pool serves the process."""

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = _clients.get(pool)
        if client is None:
            with _lock:
                client = _clients.setdefault(pool, self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    """Django's Redis cache with one ``redis.Redis`` per pool
    (``CACHES["default"]["BACKEND"]``)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient

    def validate_key(self, key):
        """Django warns about keys memcached would refuse, looping over each
        key's characters in Python on every call (45 µs of a page's
        20-fragment read); Redis takes any key, and ours are made by
        ``posts.delivery.cache`` (slugs digested when odd)."""
