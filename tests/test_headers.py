"""Security headers: a Content-Security-Policy without 'unsafe-inline' on
every page (public pages: no inline script, script-src 'self', no nonce),
HSTS, Secure cookies and the proxy's HTTPS header set from the environment,
and `manage.py check --deploy` clean with the TLS environment that
deploy/README.md prescribes."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client

from .factories import make_entry

ROOT = Path(__file__).resolve().parent.parent
DATA_BLOCKS = {"application/ld+json", "application/json"}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parts = [p.strip().split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


class _Scripts(HTMLParser):
    """Inline scripts (not data blocks) and inline event handlers of a page."""

    def __init__(self):
        super().__init__()
        self.inline, self.handlers, self._in_inline = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [f"<{tag} {k}>" for k in attrs if k.startswith("on")]
        self.handlers += [f"<{tag} {k}>" for k, v in attrs.items() if (v or "").strip().lower().startswith("javascript:")]
        self._in_inline = tag == "script" and not attrs.get("src") and attrs.get("type") not in DATA_BLOCKS

    def handle_data(self, data):
        if self._in_inline and data.strip():
            self.inline.append(data.strip()[:80])

    def handle_endtag(self, tag):
        self._in_inline = False


def _assert_no_inline_script(html: str, where: str) -> None:
    found = _Scripts()
    found.feed(html)
    assert not found.inline, f"{where}: inline script {found.inline}"
    assert not found.handlers, f"{where}: inline handlers {found.handlers}"


@pytest.fixture
def pages(blog, reporter):
    entry = make_entry(blog=blog, user=reporter, headline="Turnout", body="**60%** [source](https://example.com)",
                       key_event=True)
    return {
        "home": "/",
        "live page": f"/live/{blog.slug}/",
        "older entries": f"/live/{blog.slug}/?before=zzz",
        "permalink": f"/live/{blog.slug}/entries/{entry.pk}/",
        "not found": "/live/no-such-blog/",
    }


def test_public_pages_allow_only_their_own_scripts_and_carry_no_inline_script(client, pages):
    for where, url in pages.items():
        response = client.get(url)
        csp = policy(response)
        assert csp["script-src"] == ["'self'"], where  # no nonce: the page is shared by every cache
        assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], where
        _assert_no_inline_script(response.content.decode(), where)


def test_the_live_page_keeps_its_json_ld_as_a_data_block(client, pages):
    html = client.get(pages["live page"]).content.decode()
    assert '<script type="application/ld+json">' in html


def test_feeds_api_and_scripts_carry_the_policy_too(client, blog, pages):
    for url in [f"/live/{blog.slug}/feed.rss", f"/api/blogs/{blog.slug}", "/sw.js", "/api/openapi.json"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]


def test_pages_rendered_per_person_have_no_inline_script_and_no_unsafe_inline(client, admin_user, blog, pages):
    client.force_login(admin_user)
    for url in ["/desk/", f"/desk/blogs/{blog.slug}/", "/admin/", "/admin/posts/entry/add/",
                "/admin/posts/webhookpartner/add/", "/api/docs"]:
        response = client.get(url)
        assert response.status_code == 200, url
        csp = policy(response)
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], url
        assert all(s == "'self'" or s.startswith("'nonce-") for s in csp["script-src"]), url
        _assert_no_inline_script(response.content.decode(), url)
    for url in ["/desk/login/", "/admin/login/"]:
        response = Client().get(url)
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        _assert_no_inline_script(response.content.decode(), url)


def test_the_api_docs_load_no_third_party_script(client):
    html = client.get("/api/docs").content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "swagger-ui-bundle." in html  # our own copy (fingerprinted by the static storage)


# --- HTTPS settings from the environment ------------------------------------


def _tls_environment() -> dict[str, str]:
    """The block under "TLS and security headers" in deploy/README.md."""
    text = (ROOT / "deploy" / "README.md").read_text()
    section = text.split("## TLS and security headers", 1)[1]
    block = section.split("```env", 1)[1].split("```", 1)[0]
    env = {}
    for line in block.strip().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = secrets.token_urlsafe(50) if value.startswith("<") else value.strip()
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only the documented environment: not this run's (the browser fixture sets
    # DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy check rightly refuses).
    dropped = ("SECURE_", "DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
        capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_tls_environment():
    env = _tls_environment()
    assert {"SECURE_HSTS_SECONDS", "SECURE_COOKIES", "SECURE_PROXY_SSL_HEADER", "SECRET_KEY"} <= set(env)
    clean = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no issues" in clean.stdout
    # And the check does fail without it (the embedded defaults are not for deployment).
    bare = _manage("check", "--deploy", "--fail-level", "WARNING", env={})
    assert bare.returncode != 0
    for warning in ["security.W004", "security.W009", "security.W012", "security.W016"]:
        assert warning in bare.stderr + bare.stdout


def test_the_environment_sets_hsts_secure_cookies_and_the_proxy_header():
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "list(s.SECURE_PROXY_SSL_HEADER or []), s.SECURE_SSL_REDIRECT]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_")}
    env.update({"DJANGO_SETTINGS_MODULE": "liveblog.settings", "SECURE_HSTS_SECONDS": "600",
                "SECURE_COOKIES": "1", "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https"})
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == '[600, true, true, ["HTTP_X_FORWARDED_PROTO", "https"], false]', out.stderr


def test_behind_tls_the_answers_carry_hsts_and_secure_cookies(client, settings, reporter, blog):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    page = client.get(f"/live/{blog.slug}/", HTTP_X_FORWARDED_PROTO="https")
    assert page["Strict-Transport-Security"].startswith("max-age=31536000")
    login = client.get("/desk/login/", HTTP_X_FORWARDED_PROTO="https")
    assert login.cookies["csrftoken"]["secure"]
    logged_in = client.post("/desk/login/", {"username": "rep", "password": "pw-for-tests"},
                            HTTP_X_FORWARDED_PROTO="https")
    assert logged_in.status_code == 302 and logged_in.cookies["sessionid"]["secure"]
