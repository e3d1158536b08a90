"""Polls and "N reading now" in headless Chromium: a reader votes on the live
page and sees the tallies move live (other readers' votes, through the
embedded scheduler's flush and poll.updated over SSE); an entry with a poll
arriving live can be voted in; with JavaScript off the form posts and the
answer is the result page; axe at 1280×900 and 390×844."""

from __future__ import annotations

import pytest

from liveblog import scheduler
from posts.domain import polls, services

from .a11y import assert_no_axe_violations
from .factories import make_entry

pytestmark = pytest.mark.browser

POLL = {"question": "Who won the debate?", "options": ["Ayala", "Brooks", "Too close to call"]}


@pytest.fixture
def runner():
    polls._meta.clear()
    client = polls.redis_client()
    if client is not None:
        for key in client.scan_iter(match=f"{polls._prefix()}*", count=1000):
            client.delete(key)
    running = scheduler.Runner(every=0.3).start()
    yield running
    running.stop()


def test_a_reader_votes_and_sees_the_tally_move_live(live_url, page, blog, editor, reporter, runner):
    services.blog_update(blog=blog, user=editor, show_reader_count=True)
    entry = make_entry(blog=blog, user=reporter, body="Have your say.", poll=POLL)
    poll = entry.poll
    ayala, brooks, _close = poll.options.all()
    page.goto(f"{live_url}/live/{blog.slug}/")
    form = page.locator(f'form[data-poll="{poll.pk}"]')
    form.wait_for()
    assert form.locator("legend").inner_text() == POLL["question"]
    readers = page.locator("[data-readers-now]")
    readers.wait_for(state="visible", timeout=10_000)
    assert readers.inner_text() == "1 reading now"
    assert_no_axe_violations(page, "live page with a poll, 1280×900")

    page.get_by_label("Brooks").check()
    form.get_by_role("button", name="Vote").click()
    status = form.locator("[data-poll-status]")
    page.wait_for_function(
        "() => document.querySelector('[data-poll-status]').textContent.includes('your vote is counted')"
    )
    assert form.locator(f'[data-poll-tally="{brooks.pk}"]').inner_text() == "100% (1)"
    assert "your vote is counted" in status.inner_text()

    # Another reader votes elsewhere: the flush sends poll.updated, the page follows.
    services.poll_vote(slug=blog.slug, poll_id=poll.pk, option_id=ayala.pk, address="198.51.100.4")
    page.wait_for_function(
        f"() => (document.querySelector('[data-poll-tally=\"{ayala.pk}\"]') || {{}}).textContent === '50% (1)'",
        timeout=10_000,
    )
    assert form.locator("[data-poll-count]").inner_text() == "2 votes"
    assert form.locator("input[type=radio]:not([disabled])").count() == 0  # voted: the form rests

    page.reload()  # the vote is remembered: tallies at once, no second vote offered
    page.wait_for_function(
        f"() => (document.querySelector('[data-poll-tally=\"{brooks.pk}\"]') || {{}}).textContent === '50% (1)'"
    )
    page.set_viewport_size({"width": 390, "height": 844})
    assert_no_axe_violations(page, "live page with a voted poll, 390×844")

    # An entry with a poll arriving live is votable in place.
    later = make_entry(blog=blog, user=reporter, body="One more.", poll={"question": "Stay up?", "options": ["Yes", "No"]})
    fresh = page.locator(f'form[data-poll="{later.poll.pk}"]')
    fresh.wait_for(timeout=10_000)
    fresh.get_by_label("Yes").check()
    fresh.get_by_role("button", name="Vote").click()
    page.wait_for_function(
        f"() => (document.querySelector('form[data-poll=\"{later.poll.pk}\"] [data-poll-count]') || {{}}).textContent === '1 vote'"
    )

    services.poll_close(poll=poll, user=reporter)
    page.wait_for_function(
        f"() => document.querySelector('form[data-poll=\"{poll.pk}\"] .poll__meta').textContent.includes('closed')",
        timeout=10_000,
    )
    assert_no_axe_violations(page, "live page with a closed poll, 390×844")


def test_without_javascript_the_vote_is_a_form_post_with_a_result_page(live_url, browser, page, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body="Have your say.", poll=POLL)
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.set_default_timeout(10_000)
        plain.goto(f"{live_url}/live/{blog.slug}/")
        plain.get_by_label("Too close to call").check()
        plain.get_by_role("button", name="Vote").click()
        plain.wait_for_url(f"**/polls/{entry.poll.pk}/vote")
        assert "your vote is counted" in plain.locator("main").inner_text()
        assert "Too close to call (your vote)" in plain.locator("main").inner_text()
        plain.get_by_role("link", name="Back to the live blog").click()
        plain.wait_for_url(f"**/entries/{entry.pk}/#entry-{entry.pk}")
        plain.get_by_role("link", name="See the results").click()
        assert "1 vote" in plain.locator("main").inner_text()
    finally:
        context.close()
    # axe runs in the page, so with JavaScript on; the result page has no script of its own.
    page.goto(f"{live_url}/live/{blog.slug}/polls/{entry.poll.pk}/result")
    assert_no_axe_violations(page, "poll result page, 1280×900")
    page.set_viewport_size({"width": 390, "height": 844})
    assert_no_axe_violations(page, "poll result page, 390×844")
