"""Readers taking part, in headless Chromium against a real ASGI server
(docs/questions.md, docs/scheduler.md#scheduled-opening): sending a question
with and without JavaScript, reading oldest first, the countdown and the
blog opening by itself; and a reporter answering a question on the desk.
Every page is checked with axe-core at 1280×900 and 390×844."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from liveblog import scheduler
from posts.domain import services
from posts.domain.models import Blog, Entry, Event, Question, Role

from .a11y import assert_no_axe_violations
from .factories import AuthorFactory, make_blog, make_entry
from .test_desk_browser import desk_context

pytestmark = pytest.mark.browser

SIZES = [(1280, 900), (390, 844)]


@pytest.fixture(autouse=True)
def _fresh_question_rates():
    """The per-address counters live in the cache (Redis in the PostgreSQL
    pass), which outlives a test: start each test with none."""
    from django.core.cache import cache

    from posts.web.questions import rate_key

    cache.delete_many([rate_key(a) for a in ("127.0.0.1", "198.51.100.7")])
    yield


def _context(browser, live_url, width, height, **options):
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_url, **options)
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def asking_blog(live_url, editor, reporter):
    blog = make_blog(editor=editor, title="Budget night", questions_enabled=True)
    for n in range(5):
        make_entry(blog=blog, user=reporter, body=f"Update number {n}.")
    return blog


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["desktop", "phone"])
def test_a_reader_sends_a_question_from_the_live_page(browser, live_url, asking_blog, width, height):
    context = _context(browser, live_url, width, height)
    page = context.new_page()
    page.goto(f"/live/{asking_blog.slug}/")
    assert_no_axe_violations(page, f"the live page with the question form at {width}px")
    page.get_by_label("Your name").fill("Ana")
    page.get_by_label("Your question").fill("When is the count declared?")
    page.get_by_role("button", name="Send question").click()
    page.wait_for_function(
        "() => document.querySelector('[data-question-status]').textContent.includes('Thank you')")
    assert page.get_by_label("Your question").input_value() == ""
    assert_no_axe_violations(page, f"the live page after sending at {width}px")
    context.close()
    question = Question.objects.get()
    assert (question.name, question.body, question.status) == ("Ana", "When is the count declared?", "pending")


def test_without_javascript_the_form_posts_and_thanks_the_reader(browser, live_url, asking_blog):
    context = _context(browser, live_url, 390, 844, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"/live/{asking_blog.slug}/")
    page.get_by_label("Your question").fill("Is turnout up?")
    page.get_by_role("button", name="Send question").click()
    page.get_by_role("heading", name="Thank you").wait_for()
    assert "published only if they answer it" in page.content()
    context.close()
    assert list(Question.objects.values_list("body", flat=True)) == ["Is turnout up?"]


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["desktop", "phone"])
def test_a_reader_switches_to_oldest_first_and_reads_on(browser, live_url, asking_blog, settings, width, height):
    settings.LIVEBLOG_PAGE_SIZE = 2
    context = _context(browser, live_url, width, height)
    page = context.new_page()
    page.goto(f"/live/{asking_blog.slug}/")
    assert page.locator("article.entry").first.inner_text().find("Update number 4") >= 0
    page.get_by_role("link", name="Oldest first").click()
    page.wait_for_url("**/?order=oldest")
    articles = page.locator("[data-timeline] article.entry")
    assert "Update number 0" in articles.first.inner_text()
    assert page.get_by_role("link", name="Oldest first").get_attribute("aria-current") == "true"
    assert_no_axe_violations(page, f"the oldest-first page at {width}px")
    page.get_by_role("link", name="Later updates").click()  # loaded in place by live.js
    page.wait_for_function("() => document.querySelectorAll('[data-timeline] article.entry').length === 4")
    texts = [articles.nth(i).inner_text() for i in range(4)]
    assert [f"Update number {n}" in t for n, t in enumerate(texts)] == [True] * 4
    context.close()


def test_a_closed_blog_offers_read_from_the_start(browser, live_url, asking_blog, editor):
    services.blog_close(blog=asking_blog, user=editor, body="Good night.")
    context = _context(browser, live_url, 1280, 900)
    page = context.new_page()
    page.goto(f"/live/{asking_blog.slug}/")
    page.get_by_role("link", name="Read from the start").click()
    page.wait_for_url("**/?order=oldest")
    assert "Update number 0" in page.locator("[data-timeline] article.entry").first.inner_text()
    context.close()


@pytest.mark.parametrize(("width", "height"), SIZES, ids=["desktop", "phone"])
def test_the_countdown_shows_then_the_blog_opens_by_itself(browser, live_url, editor, reporter, width, height):
    opens_at = timezone.now() + timedelta(seconds=5)
    blog = make_blog(editor=editor, title="Debate night", status="draft", opens_at=opens_at)
    make_entry(blog=blog, user=reporter, body="Prepared before the start.")
    context = _context(browser, live_url, width, height)
    page = context.new_page()
    page.goto(f"/live/{blog.slug}/")
    timer = page.locator("[data-countdown]")
    page.wait_for_function("() => /\\(in \\d+ s\\)/.test(document.querySelector('[data-countdown]').textContent)")
    assert timer.get_attribute("role") == "timer"
    assert "Starts at" in page.locator(".countdown__when").inner_text()
    assert page.locator("article.entry").count() == 0
    assert_no_axe_violations(page, f"the countdown page at {width}px")
    runner = scheduler.Runner().start()
    try:
        page.locator("main[data-slug][data-live='true']").wait_for(timeout=20_000)
        on_page = (timezone.now() - opens_at).total_seconds()
    finally:
        runner.stop()
    blog.refresh_from_db()
    assert blog.status == Blog.Status.LIVE
    opened = Event.objects.get(blog=blog, type="blog.opened").created_at
    late = (opened - opens_at).total_seconds()
    print(f"\nscheduled opening at {width}px: opened {late:.2f}s after its time, reader page live after {on_page:.2f}s")
    assert 0 <= late < 2 and on_page < 6
    assert "Prepared before the start." in page.locator("[data-timeline]").inner_text()
    assert_no_axe_violations(page, f"the live page after opening at {width}px")
    context.close()


def test_a_reporter_answers_a_question_on_the_desk(browser, live_url, asking_blog, editor):
    ann = AuthorFactory(role=Role.REPORTER, user__username="ann", display_name="Ann Reporter").user
    services.team_set_member(blog=asking_blog, user=editor, member=ann, role=Role.REPORTER)
    context = desk_context(browser, live_url, ann)
    page = context.new_page()
    page.goto(f"/desk/blogs/{asking_blog.slug}/")
    services.question_ask(blog=asking_blog, body="Will there be a recount?", name="Ana")
    card = page.locator("[data-question-id]")
    card.wait_for(timeout=15_000)  # arrives through the desk's state poll, no reload
    assert "Will there be a recount?" in card.inner_text()
    assert page.locator("#questions-count").inner_text() == "1"
    assert_no_axe_violations(page, "the desk with a reader question")
    card.get_by_text("Answer").first.click()
    card.get_by_label("Your answer").fill("Only if the margin is under 0.5%.")
    card.get_by_role("button", name="Publish the answer").click()
    page.wait_for_url(f"**/desk/blogs/{asking_blog.slug}/#desk-entry-*")
    assert page.locator("[data-question-id]").count() == 0
    entry = Entry.objects.filter(blog=asking_blog).order_by("-pk").first()
    assert "Ana asks:" in entry.body_text and "recount" in entry.body_text
    context.close()

    reader = _context(browser, live_url, 390, 844).new_page()
    reader.goto(f"/live/{asking_blog.slug}/")
    first = reader.locator("[data-timeline] article.entry").first
    assert "Ana asks:" in first.inner_text() and "under 0.5%" in first.inner_text()
    assert first.locator("blockquote").count() == 1
    reader.context.close()
