"""The reader page, exact: live key events read as a reload does, plain text
keeps block elements apart, a close updates the page in place, relative
times stay fresh, one tab stop per entry, a favicon and sharing cards on
every page, and axe-core finds nothing on any reader page."""

from __future__ import annotations

import re

import pytest

from posts.domain import services
from posts.domain.rendering import plain_text, render_markdown

from .a11y import assert_no_axe_violations
from .factories import make_blog, make_entry

POLL_ONLY = "window.LIVEBLOG_TRANSPORT = 'poll'; window.LIVEBLOG_POLL_MS = 250;"
MARKDOWN_KEY_EVENT = (
    "**Breaking:** the [mayor](https://example.com/mayor) has resigned after a vote of no confidence "
    "in the council chamber tonight, aides say."
)


def test_plain_text_keeps_block_elements_apart():
    html = render_markdown("Watch it:\n\nhttps://bsky.app/profile/council.example/post/3kxyz\n\n- one\n- two")
    text = plain_text(html)
    words = " ".join(text.split())  # blocks end in line breaks; what matters is no glued words
    assert "BlueskyBluesky" not in text and "on Bluesky Bluesky" in words
    assert "one two" in words and "Watch it: View" in words


def test_feeds_and_meta_descriptions_use_the_spaced_text(client, blog, reporter):
    make_entry(blog=blog, user=reporter, body="Look:\n\nhttps://www.youtube.com/watch?v=aqz-KE-bpKQ")
    page = client.get(f"/live/{blog.slug}/").content.decode()
    assert "YouTubeYouTube" not in page
    assert "YouTubeYouTube" not in client.get(f"/live/{blog.slug}/feed.json").content.decode()


def test_entries_carry_the_plain_text_summary_the_page_shows(client, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body=MARKDOWN_KEY_EVENT, key_event=True)
    summary = entry.summary_text
    assert summary.startswith("Breaking: the mayor has resigned") and "**" not in summary and len(summary) <= 80
    data = client.get(f"/api/blogs/{blog.slug}/updates?since=0").json()
    published = [e for e in data["events"] if e["type"] == "entry.published"][-1]
    assert published["entry"]["summary_text"] == summary
    page = client.get(f"/live/{blog.slug}/").content.decode()
    assert f"<span>{summary}</span>" in page


def test_sharing_cards_on_the_live_page_and_permalinks(client, blog, reporter, settings):
    settings.LIVEBLOG_SITE_URL = "https://news.example"
    plain = make_entry(blog=blog, user=reporter, headline="Turnout", body="Turnout is **61%**.")
    pictured = make_entry(blog=blog, user=reporter, body="The count.\n\n![Ballot boxes](/media/boxes.jpg)")
    page = client.get(f"/live/{blog.slug}/").content.decode()
    assert f'<meta property="og:title" content="{blog.title}">' in page
    assert f'<meta property="og:url" content="https://news.example/live/{blog.slug}/">' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    assert '<meta property="og:image" content="https://news.example/media/boxes.jpg">' in page
    permalink = client.get(f"/live/{blog.slug}/entries/{plain.pk}/").content.decode()
    assert '<meta property="og:title" content="Turnout">' in permalink
    assert '<meta property="og:description" content="Turnout is 61%.">' in permalink
    assert f'<link rel="canonical" href="https://news.example/live/{blog.slug}/entries/{plain.pk}/">' in permalink
    assert '<meta name="twitter:card" content="summary">' in permalink and "og:image" not in permalink
    pictured_page = client.get(f"/live/{blog.slug}/entries/{pictured.pk}/").content.decode()
    assert '<meta name="twitter:image" content="https://news.example/media/boxes.jpg">' in pictured_page


def test_one_tab_stop_per_entry_and_a_favicon_on_every_page(client, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, headline="Result", body="Plain words.")
    page = client.get(f"/live/{blog.slug}/").content.decode()
    article = re.search(rf'<article id="entry-{entry.pk}".*?</article>', page, re.S).group(0)
    assert len(re.findall(r"<a\b|<button\b", article)) == 1
    for path in ("/", f"/live/{blog.slug}/", f"/live/{blog.slug}/entries/{entry.pk}/", "/live/nope/", "/desk/login/"):
        assert 'rel="icon"' in client.get(path).content.decode(), path
    from django.templatetags.static import static

    icon = client.get(static("favicon.svg"))
    assert icon.status_code == 200 and "immutable" in icon["Cache-Control"]


# --- In the browser ---------------------------------------------------------------


@pytest.mark.browser
def test_a_live_key_event_reads_as_a_reload_does(live_url, page, blog, reporter):
    page.add_init_script(POLL_ONLY)
    page.goto(f"{live_url}/live/{blog.slug}/")
    entry = make_entry(blog=blog, user=reporter, body=MARKDOWN_KEY_EVENT, key_event=True)
    item = page.locator(f"[data-key-event='{entry.pk}'] span")
    item.wait_for()
    live_text = item.inner_text()
    page.reload()
    assert page.locator(f"[data-key-event='{entry.pk}'] span").inner_text() == live_text
    assert "**" not in live_text and "](" not in live_text


@pytest.mark.browser
def test_closing_updates_the_page_in_place(live_url, page, blog, editor):
    page.add_init_script(POLL_ONLY)
    page.goto(f"{live_url}/live/{blog.slug}/")
    assert page.locator("[data-push-subscribe]").count() == 1
    page.evaluate("window.__same = true")
    services.blog_close(blog=blog, user=editor, body="That's all from us.")
    page.locator("[data-closed-note]").wait_for()
    page.wait_for_function("!document.querySelector('[data-push-subscribe]')")
    since = page.locator(".blog-header__since").inner_text()
    assert since.startswith("From ") and " to " in since
    assert page.evaluate("window.__same === true")


@pytest.mark.browser
def test_relative_times_sit_beside_the_clock_and_stay_fresh(live_url, page, blog, reporter):
    page.clock.install()
    entry = make_entry(blog=blog, user=reporter, body="Doors open.")
    page.goto(f"{live_url}/live/{blog.slug}/")
    ago = page.locator(f"#entry-{entry.pk} .entry__ago")
    assert ago.inner_text() == "just now"
    page.clock.run_for(5 * 60 * 1000)
    assert re.fullmatch(r"5 min\. ago|5 mins ago|5 min ago", ago.inner_text()), ago.inner_text()


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_axe_finds_nothing_on_any_reader_page(live_url, browser, blog, editor, reporter, settings, width, height):
    settings.LIVEBLOG_PAGE_SIZE = 3
    for n in range(4):
        make_entry(blog=blog, user=reporter, headline=f"Update {n}", body=f"Text {n}.")
    key = make_entry(blog=blog, user=reporter, body=MARKDOWN_KEY_EVENT, key_event=True)
    make_entry(blog=blog, user=reporter, kind="summary", pinned=True, body="Highlights so far.")
    make_entry(blog=blog, user=reporter, body="Watch:\n\nhttps://www.youtube.com/watch?v=aqz-KE-bpKQ")
    closed = make_blog(editor=editor, title="Yesterday's count")
    make_entry(blog=closed, user=reporter, body="Earlier.")
    services.blog_close(blog=closed, user=editor, body="Thanks for reading.")
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_url)
    page = context.new_page()
    page.goto(f"/live/{blog.slug}/")
    older = page.locator("[data-older-link]").get_attribute("href")
    for path in ("/", f"/live/{blog.slug}/", f"/live/{blog.slug}/{older}", f"/live/{blog.slug}/entries/{key.pk}/",
                 f"/live/{closed.slug}/", "/live/no-such-blog/"):
        page.goto(path)
        assert_no_axe_violations(page, f"{path} at {width}px")
    context.close()
