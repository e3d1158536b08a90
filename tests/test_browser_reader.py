"""The live page in headless Chromium: entries appear, change and disappear
without a reload; a reader who scrolled down gets a button instead of a
moving page; times in the reader's zone; fine with JavaScript off.

The reader script is forced onto its polling fallback here (the SSE
endpoint is another area's; the default transport has its own test)."""

from __future__ import annotations

from datetime import UTC

import pytest

from posts.domain import services

from .factories import make_entry

pytestmark = pytest.mark.browser

POLL_ONLY = "window.LIVEBLOG_TRANSPORT = 'poll'; window.LIVEBLOG_POLL_MS = 250;"


@pytest.fixture
def reader(page):
    page.add_init_script(POLL_ONLY)
    return page


def _open(page, live_url, blog):
    page.goto(f"{live_url}/live/{blog.slug}/")
    page.evaluate("window.__sameDocument = true")


def _same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_entry_appears_changes_and_disappears_without_reload(live_url, reader, blog, reporter):
    make_entry(blog=blog, user=reporter, body="Doors open.")
    _open(reader, live_url, blog)

    entry = make_entry(blog=blog, user=reporter, headline="Exit poll", body="Exit poll: **too close** to call.")
    article = reader.locator(f"#entry-{entry.pk}")
    article.wait_for()
    assert "too close" in article.inner_text()
    assert reader.locator("article.entry").first.get_attribute("id") == f"entry-{entry.pk}"
    reader.wait_for_function("() => document.querySelector('[data-announcer]').textContent.includes('Exit poll')")

    services.entry_edit(entry=entry, user=reporter, version=entry.version, body="Exit poll: narrow lead.")
    reader.wait_for_function(
        f"() => document.querySelector('#entry-{entry.pk}')?.innerText.includes('narrow lead')")
    assert article.locator(".entry__updated").is_visible()

    services.entry_delete(entry=entry, user=reporter)
    article.wait_for(state="detached")
    assert _same_document(reader)
    assert reader.locator("article.entry").count() == 1


def test_key_events_and_pins_follow_the_blog(live_url, reader, blog, reporter):
    first = make_entry(blog=blog, user=reporter, body="Earlier")
    _open(reader, live_url, blog)
    key = make_entry(blog=blog, user=reporter, headline="Winner declared", body="x", key_event=True)
    reader.locator(f"[data-key-events] li[data-key-event='{key.pk}']").wait_for()
    services.entry_pin(entry=first, user=reporter)
    reader.locator(f"[data-pinned-slot] #entry-{first.pk}").wait_for()
    assert reader.locator(f"#entry-{first.pk}").count() == 1
    reader.locator(f"[data-entry-link='{key.pk}']").click()
    reader.wait_for_function(f"() => location.hash === '#entry-{key.pk}'")
    assert _same_document(reader)


def test_scrolled_down_reader_gets_a_new_updates_button(live_url, reader, blog, reporter):
    for i in range(12):
        make_entry(blog=blog, user=reporter, body=f"Earlier update {i}. " + "Long text. " * 30)
    _open(reader, live_url, blog)
    reader.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    scrolled = reader.evaluate("window.scrollY")
    fresh = [make_entry(blog=blog, user=reporter, body=f"Fresh {i}") for i in range(2)]
    button = reader.locator("[data-new-updates-button]")
    button.wait_for()
    reader.wait_for_function("() => document.querySelector('[data-new-updates-button]').textContent === '2 new updates'")
    assert reader.locator(f"#entry-{fresh[0].pk}").count() == 0
    assert reader.evaluate("window.scrollY") == scrolled
    button.click()
    reader.locator(f"#entry-{fresh[1].pk}").wait_for()
    assert reader.evaluate("document.activeElement.id") == f"entry-{fresh[1].pk}"
    assert reader.locator("[data-new-updates]").is_hidden()


def test_closing_the_blog_shows_the_note_and_stops_polling(live_url, reader, blog, editor):
    _open(reader, live_url, blog)
    polls = []
    reader.on("request", lambda r: polls.append(r.url) if "/updates" in r.url else None)
    services.blog_close(blog=blog, user=editor, body="That's all from us.")
    reader.locator("[data-closed-note]").wait_for()
    assert reader.locator("[data-blog-status]").inner_text().lower() == "ended"
    reader.wait_for_timeout(300)
    seen = len(polls)
    reader.wait_for_timeout(1200)
    assert len(polls) == seen


def test_times_are_shown_in_the_readers_zone(live_url, browser, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Counting starts.")
    context = browser.new_context(timezone_id="Asia/Kolkata", locale="en-GB")
    try:
        page = context.new_page()
        page.goto(f"{live_url}/live/{blog.slug}/")
        shown = page.locator(f"#entry-{entry.pk} .entry__time time").inner_text()
        from zoneinfo import ZoneInfo

        local = entry.published_at.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M")
        utc = entry.published_at.astimezone(UTC).strftime("%H:%M")
        assert local in shown and utc != local
    finally:
        context.close()


def test_the_page_works_with_javascript_off(live_url, browser, blog, reporter, settings):
    settings.LIVEBLOG_PAGE_SIZE = 3
    made = [make_entry(blog=blog, user=reporter, body=f"Update {i}") for i in range(5)]
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_url}/live/{blog.slug}/")
        assert page.locator("article.entry").count() == 3
        assert "UTC" in page.locator(f"#entry-{made[-1].pk} time").inner_text()
        page.get_by_role("link", name="Older updates").click()
        page.locator(f"#entry-{made[0].pk}").wait_for()
        assert page.locator("article.entry").count() == 2
    finally:
        context.close()


def test_older_updates_load_in_place_with_javascript(live_url, reader, blog, reporter, settings):
    settings.LIVEBLOG_PAGE_SIZE = 3
    made = [make_entry(blog=blog, user=reporter, body=f"Update {i}") for i in range(7)]
    _open(reader, live_url, blog)
    older = reader.locator("[data-older-link]")
    older.click()
    reader.locator(f"#entry-{made[1].pk}").wait_for()
    older.click()
    reader.locator(f"#entry-{made[0].pk}").wait_for()
    assert older.count() == 0
    ids = reader.eval_on_selector_all("[data-timeline] article", "els => els.map(e => e.dataset.entryId)")
    assert ids == [str(e.pk) for e in reversed(made)]
    assert _same_document(reader)


def test_default_transport_delivers_new_entries(live_url, page, blog, reporter):
    """SSE when the live channel answers, polling when it does not: either way
    the entry arrives."""
    page.add_init_script("window.LIVEBLOG_POLL_MS = 250;")
    _open(page, live_url, blog)
    entry = make_entry(blog=blog, user=reporter, body="Delivered whichever way.")
    page.locator(f"#entry-{entry.pk}").wait_for()
    assert _same_document(page)
