"""Outbound HTTP is one guarded path: every sender (webhooks, Web Push,
WebSub, CDN purge) resolves once, refuses forbidden addresses, connects to
the address it checked and never follows a redirect."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.test import Client

from posts.delivery import fanout, outbound, push, websub
from posts.domain import services
from posts.domain.destinations import check_url, refusal
from posts.domain.errors import Invalid
from posts.domain.models import WebhookDelivery
from tests.factories import make_entry

from .test_push import Browser


class Server:
    """A local server recording every request, whatever the method, and
    answering ``status`` with ``Location: location``."""

    def __init__(self, status: int = 200, location: str = ""):
        self.requests: list[tuple[str, str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def redirect(settings):
    """A server answering ``status`` with a redirect to a second local port."""
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True  # both servers are local
    servers = []

    def start(status: int) -> tuple[Server, Server]:
        target = Server(200)
        source = Server(status, location=f"{target.url}/stolen")
        servers.extend([source, target])
        return source, target

    yield start
    for server in servers:
        server.close()


def _send_webhook(source, blog, editor, reporter, commit):
    partner, _ = services.webhook_partner_create(user=editor, url=f"{source.url}/hook")
    with commit(execute=True):
        make_entry(blog=blog, user=reporter)
    delivery = WebhookDelivery.objects.get(partner=partner)
    assert delivery.status == "failed" and "HTTP 3" in delivery.last_error


def _send_push(source, blog, editor, reporter, commit, settings):
    private, public = push.generate_keys()
    settings.LIVEBLOG_VAPID_PRIVATE_KEY, settings.LIVEBLOG_VAPID_PUBLIC_KEY = private, public
    browser = Browser(f"{source.url}/push/1")
    response = Client().post(f"/live/{blog.slug}/push/subscribe", browser.subscription(), content_type="application/json")
    assert response.status_code == 201
    with commit(execute=True):
        make_entry(blog=blog, user=reporter, key_event=True, headline="Result")


def _send_websub(source, blog, editor, reporter, commit, settings):
    settings.LIVEBLOG_WEBSUB_HUB = f"{source.url}/hub"
    with pytest.raises(requests.HTTPError, match="HTTP 3"):
        websub.ping(blog.slug)


def _purge_cdn(source, blog, editor, reporter, commit, settings):
    for url in (f"{source.url}/purge/{{key}}", f"{source.url}/purge"):
        settings.LIVEBLOG_CDN_PURGE_URL = url
        with pytest.raises(requests.HTTPError, match="HTTP 3"):
            fanout.purge_cdn(blog.slug)


SENDERS = {
    "webhook": lambda s, b, e, r, c, settings: _send_webhook(s, b, e, r, c),
    "push": _send_push,
    "websub": _send_websub,
    "cdn-purge": _purge_cdn,
}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_no_sender_follows_a_redirect(
    sender, status, redirect, blog, editor, reporter, settings, django_capture_on_commit_callbacks
):
    source, target = redirect(status)
    SENDERS[sender](source, blog, editor, reporter, django_capture_on_commit_callbacks, settings)
    assert source.requests, "the sender never called"
    assert target.requests == [], f"{sender} followed a {status} to the second port"


REFUSED = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/",
    "http://localhost/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.10/",
    "http://100.64.0.1/",  # CGNAT
    "http://100.127.255.254/",
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://169.254.1.1/",
    "http://0.0.0.0/",
    "http://0.1.2.3/",
    "http://224.0.0.1/",  # multicast
    "http://239.255.255.250/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://192.0.2.1/",  # documentation
    "http://198.18.0.1/",  # benchmarking
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",  # link-local
    "http://[fd00::1]/",  # unique local
    "http://[ff02::1]/",  # multicast
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:93.184.216.34]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
    "http://[2002:c0a8:1::]/",  # 6to4 of 192.168.0.1
    "http://[2001:0:7f00:1::]/",  # Teredo, server 127.0.0.1
    "http://[2001:0:5db8:d822:0:0:f5ff:fffe]/",  # Teredo, client 10.0.0.1
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[64:ff9b:1::1]/",  # local-use NAT64
    "http://[2001:db8::1]/",  # documentation
    "http://2130706433/",  # 127.0.0.1 as a number
    "http://0x7f.1/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_forbidden_addresses_are_refused(url, settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(Invalid, match="we never call"):
        check_url(url)


ALWAYS_REFUSED = [u for u in REFUSED if not any(
    private in u for private in ("127.", "localhost", "//10.", "172.16", "192.168", "[::1]", "2130706433", "0x7f")
)]


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_the_private_flag_never_opens_link_local_metadata_or_embedded_forms(url, settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    with pytest.raises(Invalid, match="we never call"):
        check_url(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/", "http://10.1.2.3/", "http://172.31.0.1/", "http://192.168.1.1/", "http://[::1]/"]
)
def test_the_private_flag_opens_loopback_and_rfc1918_only(url, settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    assert check_url(url) == url


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "2002:5db8:d822::1", "64:ff9b::5db8:d822"])
def test_public_addresses_pass(address):
    assert refusal(address, allow_private=False) is None


def test_the_guarded_client_resolves_once_and_connects_to_that_address(settings, monkeypatch):
    """DNS rebinding: a second lookup would answer 10.255.255.1; there is none.
    The Host header keeps the name."""
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    server = Server(204)
    real = socket.getaddrinfo
    lookups = []

    def fake(host, port, *args, **kwargs):
        if host == "hub.example":
            lookups.append(host)
            address = "127.0.0.1" if len(lookups) == 1 else "10.255.255.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    try:
        response = outbound.session().post(f"http://hub.example:{server.port}/hub", data=b"x", timeout=5)
    finally:
        server.close()
    assert response.status_code == 204
    assert lookups == ["hub.example"]
    [(_, _, headers)] = server.requests
    assert headers["host"] == f"hub.example:{server.port}"


def test_the_guarded_client_refuses_a_name_that_resolves_to_metadata(settings, monkeypatch):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "metadata.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(requests.ConnectionError, match="refused: metadata.example resolves to 169.254.169.254"):
        outbound.session().get("http://metadata.example/latest/meta-data", timeout=5)


# --- Anonymous push subscriptions --------------------------------------------------------


def _subscribe(blog, endpoint):
    return Client().post(
        f"/live/{blog.slug}/push/subscribe", Browser(endpoint).subscription(), content_type="application/json"
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://[2002:7f00:1::]/push",
        "https://169.254.169.254/push",
        "https://[::ffff:10.0.0.1]/push",
        "https://localhost/push",
        "https://100.64.0.1/push",
    ],
)
def test_a_reader_cannot_make_the_server_call_an_internal_url(blog, settings, endpoint):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False
    response = _subscribe(blog, endpoint)
    assert response.status_code == 422 and response.json()["field"] == "endpoint"
    assert not blog.push_subscriptions.exists()


def test_push_endpoints_must_be_https_unless_the_private_flag_is_set(blog, settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False
    response = _subscribe(blog, "http://93.184.216.34/push")
    assert response.status_code == 422 and "https" in response.json()["detail"]
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    assert _subscribe(blog, "https://169.254.169.254/push").status_code == 422  # still refused
