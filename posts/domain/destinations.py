"""Where our servers may send requests: the address rules for partner,
push, hub and purge URLs, checked at registration and again at connect
time by the one guarded client (:mod:`posts.delivery.outbound`).
See docs/outbound.md."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from posts.domain.errors import Invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenDestination(OSError):
    """The host resolves to an address we refuse to call."""


def _nets(*cidrs: str) -> tuple:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Opened by LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE (tests, intranets): nothing else.
_OPENABLE = _nets("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128")

# Refused whatever the flag says (IANA special-purpose registries, RFC 6890).
_ALWAYS = (
    ("link-local (cloud metadata)", _nets("169.254.0.0/16", "fe80::/10")),
    ("carrier-grade NAT", _nets("100.64.0.0/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("unique-local", _nets("fc00::/7", "fec0::/10")),
    ("local-use NAT64", _nets("64:ff9b:1::/48")),
    ("reserved", _nets(
        "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "240.0.0.0/4", "100::/64", "2001:db8::/32", "2001:10::/28", "2001:20::/28",
    )),
)

_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4,
    Teredo server and client, NAT64): a packet to it may end up there."""
    raw = int(ip)
    if ip in _MAPPED or (ip in _COMPATIBLE and raw > 1):
        return [ipaddress.IPv4Address(raw & 0xFFFFFFFF)]
    if ip in _SIX_TO_FOUR:
        return [ipaddress.IPv4Address((raw >> 80) & 0xFFFFFFFF)]
    if ip in _TEREDO:
        return [ipaddress.IPv4Address((raw >> 64) & 0xFFFFFFFF), ipaddress.IPv4Address(~raw & 0xFFFFFFFF)]
    if ip in _NAT64:
        return [ipaddress.IPv4Address(raw & 0xFFFFFFFF)]
    return []


def refusal(address: str | IPAddress, *, allow_private: bool | None = None) -> str | None:
    """Why we must not connect to ``address`` ("loopback", ...), or None.

    IPv4-mapped and -compatible forms are refused; 6to4, Teredo and NAT64
    addresses are judged by the IPv4 addresses they embed too.
    ``allow_private`` (default: the setting) opens loopback and RFC 1918 only.
    """
    if allow_private is None:
        allow_private = allow_private_setting()
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        # An IPv6 spelling of an IPv4 address: always refused (call the IPv4 one).
        if ip in _MAPPED:
            return f"IPv4-mapped ({ip.ipv4_mapped})"
        if ip in _COMPATIBLE and int(ip) > 1:
            return f"IPv4-compatible ({ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)})"
        for inner in embedded_ipv4(ip):
            reason = refusal(inner, allow_private=False)
            if reason is not None:
                return f"{reason} ({inner}, embedded)"
    for reason, networks in _ALWAYS:
        if any(ip in net for net in networks):
            return reason
    if any(ip in net for net in _OPENABLE):
        if allow_private:
            return None
        return "loopback" if ip.is_loopback else "private"
    if not ip.is_global:
        return "reserved"
    return None


def is_forbidden_address(address: str, *, allow_private: bool | None = None) -> bool:
    return refusal(address, allow_private=allow_private) is not None


def allow_private_setting() -> bool:
    return bool(settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE)


allow_private = allow_private_setting


def resolve(host: str, port: int) -> list[tuple]:
    """Resolve ``host`` once; ``getaddrinfo`` rows, every address allowed.

    Raises :class:`ForbiddenDestination` if any address is refused (a host
    with one good and one bad address is refused: we cannot choose for the
    resolver), ``socket.gaierror`` if it does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        address = info[4][0]
        reason = refusal(address)
        if reason is not None:
            raise ForbiddenDestination(f"refused: {host} resolves to {address}, a {reason} address")
    return infos


def check_url(url: str, *, field: str = "url") -> str:
    """Refuse a URL we must not call; returns it cleaned. Raises ``Invalid``."""
    url = (url or "").strip()
    if len(url) > 500:
        raise Invalid("The URL is longer than 500 characters.", field=field)
    if any(ord(ch) < 0x21 or 0x7F <= ord(ch) <= 0x9F for ch in url):
        raise Invalid("The URL must not contain spaces or control characters.", field=field)
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
        resolve(parts.hostname, port)
    except ForbiddenDestination as exc:
        raise Invalid(
            f"The host '{parts.hostname}' {str(exc).split(' ', 2)[2]}; we never call private, loopback, "
            "link-local, multicast or reserved addresses: the URL must be reachable on the public "
            "internet (LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE=1 opens loopback and RFC 1918 addresses only, "
            "for tests and intranets).",
            field=field,
        ) from exc
    except (OSError, UnicodeError) as exc:
        raise Invalid(f"The host '{parts.hostname}' does not resolve.", field=field) from exc
    return url
