"""Where our servers may send requests: the rules for partner, push and
purge URLs, checked at registration and again at connect time by the
delivery's guarded client."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from posts.domain.errors import Invalid


class ForbiddenDestination(OSError):
    """The partner's host resolves to an address we refuse to call."""


def is_forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def allow_private() -> bool:
    return bool(settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE)


def check_url(url: str, *, field: str = "url") -> str:
    """Refuse a URL we must not call; returns it cleaned. Raises ``Invalid``."""
    url = (url or "").strip()
    if len(url) > 500:
        raise Invalid("The URL is longer than 500 characters.", field=field)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Invalid("The URL must be an absolute http:// or https:// URL.", field=field)
    if parts.username or parts.password:
        raise Invalid("The URL must not carry a user name or password.", field=field)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Invalid("The URL's port is not valid.", field=field) from exc
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Invalid(f"The host '{parts.hostname}' does not resolve.", field=field) from exc
    if not allow_private():
        for info in infos:
            address = info[4][0]
            if is_forbidden_address(address):
                raise Invalid(
                    f"The host '{parts.hostname}' resolves to {address}, a private, loopback, "
                    "link-local or reserved address; partners must be reachable on the public "
                    "internet (set LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE=1 for intranets).",
                    field=field,
                )
    return url


