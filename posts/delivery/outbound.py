"""The one way our servers call out: webhooks, Web Push, WebSub pings and
CDN purges all go through this module (docs/outbound.md).

Every connection resolves the host once, refuses it by the address rules
of :mod:`posts.domain.destinations`, and connects to that very address
(no second lookup, so DNS rebinding cannot swap it), while the Host header
and TLS (SNI, certificate check) keep the hostname. No redirect is ever
followed: a 3xx is the answer. Proxies from the environment are ignored.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from urllib.parse import urlsplit

import aiohttp
import requests
from aiohttp.abc import AbstractResolver
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import _set_socket_options
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from posts.domain.destinations import ForbiddenDestination, refusal, resolve

__all__ = ["ForbiddenDestination", "aiohttp_session", "apost", "session"]


def _connect(host: str, port: int, timeout, source_address, socket_options) -> socket.socket:
    """``urllib3.util.connection.create_connection`` with the guard: the
    addresses checked are the addresses tried."""
    error: OSError | None = None
    for family, socktype, proto, _canon, address in resolve(host.strip("[]"), port):
        sock = None
        try:
            sock = socket.socket(family, socktype, proto)
            _set_socket_options(sock, socket_options)
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            if sock is not None:
                sock.close()
    raise error or OSError(f"no address for {host}")


class _GuardedConnectionMixin:
    def _new_conn(self) -> socket.socket:
        try:
            sock = _connect(self._dns_host, self.port, self.timeout, self.source_address, self.socket_options)
        except ForbiddenDestination as exc:
            raise NewConnectionError(self, str(exc)) from exc
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


class GuardedSession(requests.Session):
    """A ``requests`` session that only reaches allowed addresses and never
    follows a redirect, whatever its caller (pywebpush included) asks."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # no proxy from the environment: we connect ourselves
        adapter = _GuardedAdapter(max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request, **kwargs):
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def session() -> GuardedSession:
    """A fresh guarded session (cheap; one per batch or per call)."""
    return GuardedSession()


def raise_for_status(response: requests.Response) -> requests.Response:
    """Like ``response.raise_for_status()``, but a 3xx fails too: we never
    follow it, so the request did not do its work."""
    if not 200 <= response.status_code < 300:
        raise requests.HTTPError(f"HTTP {response.status_code} from {response.url}", response=response)
    return response


# --- aiohttp (webhooks: concurrent batches) ------------------------------------------


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses forbidden addresses: aiohttp connects
    to exactly the addresses it returns (SNI and Host stay the hostname)."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        infos = await self._inner.resolve(host, port, family)
        for info in infos:
            reason = refusal(info["host"])
            if reason is not None:
                raise ForbiddenDestination(f"refused: {host} resolves to {info['host']}, a {reason} address")
        return infos

    async def close(self) -> None:
        await self._inner.close()


def aiohttp_session(*, timeout: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(), limit=0, ttl_dns_cache=None, use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False
    )


def _check_literal(url: str) -> None:
    """aiohttp skips the resolver for an IP literal: check it here."""
    host = urlsplit(url).hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = refusal(literal)
    if reason is not None:
        raise ForbiddenDestination(f"refused: {host} is a {reason} address")


def apost(client: aiohttp.ClientSession, url: str, **kwargs):
    """``client.post(url, ...)`` through the guard, never following a redirect
    (use as ``async with apost(...) as response``)."""
    _check_literal(url)
    return client.post(url, allow_redirects=False, **kwargs)
