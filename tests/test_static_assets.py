"""Static files fit for a CDN: fingerprinted names on every page, a year's
immutable cache, and gzip and brotli made ahead of time (the production
profile's nginx serves the same files: tests/test_deploy_e2e.py)."""

from __future__ import annotations

import re

import brotli
import pytest

from .factories import make_entry

HASHED = re.compile(r"/static/[\w/.-]+\.[0-9a-f]{12}\.(?:css|js|svg)")


@pytest.fixture
def pages(client, blog, reporter, editor):
    entry = make_entry(blog=blog, user=reporter, body="Doors open.")
    html = [client.get(path).content.decode() for path in ("/", f"/live/{blog.slug}/", entry.get_absolute_url())]
    client.force_login(editor)
    html.append(client.get(f"/desk/blogs/{blog.slug}/").content.decode())
    return html


def test_pages_link_fingerprinted_names_only(pages):
    for html in pages:
        linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', html)
        assert linked, "no static file linked"
        for url in linked:
            assert HASHED.fullmatch(url), f"{url} is not fingerprinted"


def test_static_files_get_a_years_immutable_cache_and_come_precompressed(client, pages):
    url = sorted({u for html in pages for u in HASHED.findall(html) if u.endswith(".js")})[0]
    plain = client.get(url)
    assert plain.status_code == 200
    assert plain["Cache-Control"] == "max-age=31536000, public, immutable"
    body = b"".join(plain.streaming_content)
    br = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert br["Content-Encoding"] == "br" and "Accept-Encoding" in br["Vary"]
    assert brotli.decompress(b"".join(br.streaming_content)) == body
    gz = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert gz["Content-Encoding"] == "gzip"


def test_a_name_that_is_not_fingerprinted_is_not_served(client):
    assert client.get("/static/live/live.js").status_code == 404
