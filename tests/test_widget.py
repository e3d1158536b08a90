"""The live blog on other sites: the widget page (frameable on that route
only, cached and purged like the live page), the loader script, the oEmbed
provider and its discovery links, the snippet on the desk."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from posts.domain import services
from tests.factories import make_entry


def _csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def test_the_widget_is_frameable_by_anyone_by_default_and_no_other_page_is(client, blog, reporter):
    entry = make_entry(blog=blog, user=reporter)
    widget = client.get(f"/live/{blog.slug}/embed/")
    assert widget.status_code == 200
    assert _csp(widget)["frame-ancestors"] == ["*"]
    assert not widget.has_header("X-Frame-Options")
    for path in ["/", f"/live/{blog.slug}/", entry.get_absolute_url(), "/desk/login/", "/oembed?url=x"]:
        response = client.get(path)
        assert _csp(response)["frame-ancestors"] == ["'none'"], path
        assert response["X-Frame-Options"] == "DENY", path


def test_the_frame_ancestors_come_from_the_allowlist(client, blog, settings):
    settings.LIVEBLOG_EMBED_FRAME_ANCESTORS = ["https://partner.example", "https://*.news.example"]
    widget = client.get(f"/live/{blog.slug}/embed/")
    assert _csp(widget)["frame-ancestors"] == ["https://partner.example", "https://*.news.example"]


def test_the_widget_shows_the_latest_entries_and_links_back(client, blog, reporter, settings):
    settings.LIVEBLOG_EMBED_ENTRIES = 3
    entries = [make_entry(blog=blog, user=reporter, body=f"Update number {i}") for i in range(5)]
    html = client.get(f"/live/{blog.slug}/embed/").content.decode()
    shown = re.findall(r'<article id="entry-(\d+)"', html)
    assert shown == [str(e.pk) for e in reversed(entries[-3:])]
    assert f'href="http://testserver/live/{blog.slug}/"' in html or f"/live/{blog.slug}/\"" in html
    assert "Read the full live blog" in html
    assert 'class="site-header' not in html and "site-footer" not in html  # no site chrome
    assert 'data-live="true"' in html and "live/live." in html and "live/frame." in html


@pytest.mark.django_db(transaction=True)  # real commits: the fan-out purges as in production
def test_the_widget_is_cached_and_purged_like_the_live_page(client, blog, reporter):
    make_entry(blog=blog, user=reporter, body="First")
    first = client.get(f"/live/{blog.slug}/embed/")
    again = client.get(f"/live/{blog.slug}/embed/")
    assert first["X-Read-Cache"] == "miss" and again["X-Read-Cache"] == "hit"
    assert again["Cache-Control"] == client.get(f"/live/{blog.slug}/")["Cache-Control"]
    assert again["Surrogate-Key"] == client.get(f"/live/{blog.slug}/")["Surrogate-Key"]
    assert client.get(f"/live/{blog.slug}/embed/", HTTP_IF_NONE_MATCH=again["ETag"]).status_code == 304
    entry = make_entry(blog=blog, user=reporter, body="Second, just in")
    fresh = client.get(f"/live/{blog.slug}/embed/")
    assert fresh["X-Read-Cache"] == "miss" and "Second, just in" in fresh.content.decode()
    oembed = f"/oembed?url=http://testserver{entry.get_absolute_url()}"
    assert client.get(oembed).status_code == 200 and client.get(oembed)["X-Read-Cache"] == "hit"
    services.entry_delete(entry=entry, user=reporter)
    assert "Second, just in" not in client.get(f"/live/{blog.slug}/embed/").content.decode()
    assert client.get(oembed).status_code == 410


@pytest.mark.django_db(transaction=True)
def test_one_entry_in_the_widget_and_its_takedown(client, blog, reporter):
    keep = make_entry(blog=blog, user=reporter, body="The other one")
    entry = make_entry(blog=blog, user=reporter, body="Just this one")
    html = client.get(f"/live/{blog.slug}/embed/?entry={entry.pk}").content.decode()
    assert "Just this one" in html and "The other one" not in html and 'data-live="false"' in html
    services.entry_delete(entry=entry, user=reporter)
    gone = client.get(f"/live/{blog.slug}/embed/?entry={entry.pk}")
    assert gone.status_code == 410 and "Just this one" not in gone.content.decode()
    assert client.get(f"/live/{blog.slug}/embed/?entry=999999").status_code == 404
    assert client.get(f"/live/{blog.slug}/embed/?entry=abc").status_code == 404
    assert client.get(f"/live/{blog.slug}/embed/?entry={keep.pk}").status_code == 200


def test_a_missing_or_draft_blog_has_no_widget(client, editor):
    from tests.factories import make_blog

    draft = make_blog(editor=editor, title="Not yet", status="draft")
    assert client.get(f"/live/{draft.slug}/embed/").status_code == 404
    assert client.get("/live/no-such-blog/embed/").status_code == 404


def test_the_loader_script_has_a_stable_address(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "liveblog:height" in response.content.decode() and "ev.origin !== origin" in response.content.decode()
    assert "max-age=300" in response["Cache-Control"]


# --- oEmbed ---------------------------------------------------------------------


def _oembed(client, url, **params):
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in {"url": url, **params}.items())
    return client.get(f"/oembed?{query}")


def test_oembed_of_a_live_blog_is_rich_with_the_snippet(client, blog, settings):
    page = f"{settings.LIVEBLOG_SITE_URL}/live/{blog.slug}/"
    response = _oembed(client, page, format="json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert data["version"] == "1.0" and data["type"] == "rich"
    assert data["title"] == blog.title and data["provider_name"] == settings.LIVEBLOG_PUBLISHER_NAME
    assert (data["width"], data["height"]) == (600, 800)
    assert f'data-liveblog="{blog.slug}"' in data["html"]
    assert f'src="{settings.LIVEBLOG_SITE_URL}/live/{blog.slug}/embed/"' in data["html"]
    assert f'src="{settings.LIVEBLOG_SITE_URL}/embed.js"' in data["html"]
    assert _oembed(client, page)["Content-Type"] == "application/json"  # format defaults to JSON


def test_oembed_of_a_permalink_embeds_that_entry_within_the_size_asked(client, blog, reporter, settings):
    entry = make_entry(blog=blog, user=reporter, headline="Turnout record", body="Highest since 1992.")
    data = _oembed(client, f"{settings.LIVEBLOG_SITE_URL}{entry.get_absolute_url()}", maxwidth=320, maxheight=250).json()
    assert data["title"] == "Turnout record"
    assert (data["width"], data["height"]) == (320, 250)
    assert f"/live/{blog.slug}/embed/?entry={entry.pk}" in data["html"]
    assert 'width="320" height="250"' in data["html"]
    big = _oembed(client, f"{settings.LIVEBLOG_SITE_URL}{entry.get_absolute_url()}", maxwidth=5000).json()
    assert big["width"] == 600  # never wider than ours


@pytest.mark.django_db(transaction=True)
def test_oembed_errors(client, blog, reporter, settings):
    site = settings.LIVEBLOG_SITE_URL
    entry = make_entry(blog=blog, user=reporter)
    cases = [
        (_oembed(client, f"{site}/live/{blog.slug}/", format="xml"), 501, "not_implemented"),
        (client.get("/oembed"), 400, "bad_request"),
        (_oembed(client, f"{site}/live/{blog.slug}/", maxwidth="wide"), 400, "bad_request"),
        (_oembed(client, f"{site}/live/{blog.slug}/", maxheight="0"), 400, "bad_request"),
        (_oembed(client, f"https://elsewhere.example/live/{blog.slug}/"), 404, "not_found"),
        (_oembed(client, f"{site}/live/no-such-blog/"), 404, "not_found"),
        (_oembed(client, f"{site}/live/{blog.slug}/entries/999999/"), 404, "not_found"),
        (_oembed(client, f"{site}/desk/"), 404, "not_found"),
        (_oembed(client, "javascript:alert(1)"), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.content
        assert response.json()["code"] == code and response.json()["detail"]
    services.entry_delete(entry=entry, user=reporter)
    gone = _oembed(client, f"{site}{entry.get_absolute_url()}")
    assert gone.status_code == 410 and gone.json()["code"] == "gone"
    assert client.get(entry.get_absolute_url()).status_code == 410  # as the permalink answers


def test_live_pages_and_permalinks_advertise_their_oembed(client, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, headline="Result")
    for path in [f"/live/{blog.slug}/", entry.get_absolute_url()]:
        html = client.get(path).content.decode()
        match = re.search(r'<link rel="alternate" type="application/json\+oembed" title="[^"]*" href="([^"]+)"', html)
        assert match, path
        href = match.group(1).replace("&amp;", "&")
        data = client.get(href.removeprefix("http://127.0.0.1:8000").split("testserver")[-1]).json()
        assert data["type"] == "rich"
        assert ("?entry=" in data["html"]) == (path != f"/live/{blog.slug}/")


# --- The desk -----------------------------------------------------------------------


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def test_the_desk_offers_the_snippet_with_a_copy_button(editor_client, blog, settings):
    html = editor_client.get(f"/desk/blogs/{blog.slug}/").content.decode()
    assert "data-copy-target" in html
    snippet = re.search(r'<textarea[^>]*id="embed-snippet"[^>]*>([^<]*)</textarea>', html).group(1)
    assert "data-liveblog=&quot;" + blog.slug in snippet
    assert f"{settings.LIVEBLOG_SITE_URL}/embed.js" in snippet
