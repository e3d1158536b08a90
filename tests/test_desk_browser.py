"""The desk in a real browser (headless Chromium) against a real ASGI server:
two reporters see each other's work arrive, a stale edit is caught, a
contributor's post goes through the approval queue to the public page, and
the desk works from the keyboard at laptop and phone widths."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from posts.domain import services
from posts.domain.models import Entry, Role

from .factories import AuthorFactory, make_blog, make_entry

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("DESK_SCREENSHOTS", "/tmp/desk-screenshots"))


def desk_context(browser, live_url, user, *, width=1280, height=900, **options):
    """A browser context logged in as ``user`` (a real session cookie)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_url, **options)
    context.add_cookies([{
        "name": "sessionid", "value": client.cookies["sessionid"].value,
        "url": live_url,
    }])
    context.set_default_timeout(10_000)
    return context


@pytest.fixture
def newsroom(live_url):
    editor = AuthorFactory(role=Role.EDITOR, user__username="ed", display_name="Edna Editor").user
    ann = AuthorFactory(role=Role.REPORTER, user__username="ann", display_name="Ann Reporter").user
    bob = AuthorFactory(role=Role.REPORTER, user__username="bob", display_name="Bob Reporter").user
    con = AuthorFactory(role=Role.CONTRIBUTOR, user__username="con", display_name="Cy Contributor").user
    blog = make_blog(editor=editor, title="Budget night")
    for person, role in ((ann, Role.REPORTER), (bob, Role.REPORTER), (con, Role.CONTRIBUTOR)):
        services.team_set_member(blog=blog, user=editor, member=person, role=role)
    return {"editor": editor, "ann": ann, "bob": bob, "con": con, "blog": blog, "url": live_url}


def open_desk(browser, newsroom, who, **options):
    context = desk_context(browser, newsroom["url"], newsroom[who], **options)
    page = context.new_page()
    page.goto(f"/desk/blogs/{newsroom['blog'].slug}/")
    return context, page


def test_login_form_takes_a_reporter_to_their_blogs(browser, newsroom):
    user = newsroom["ann"]
    user.set_password("correct horse")
    user.save()
    context = browser.new_context(base_url=newsroom["url"])
    page = context.new_page()
    page.goto("/desk/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", "wrong")
    page.keyboard.press("Enter")
    page.wait_for_selector("#login-error")
    page.fill("#id_password", "correct horse")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Budget night").click()
    page.wait_for_selector("#composer")
    context.close()


def test_one_reporter_posts_and_the_other_sees_it_appear(browser, newsroom):
    ann_ctx, ann = open_desk(browser, newsroom, "ann")
    bob_ctx, bob = open_desk(browser, newsroom, "bob")
    text = f"Turnout is up in the harbour ward {uuid.uuid4().hex[:6]}"

    ann.fill("#id_headline", "Turnout")
    ann.fill("#id_body", f"{text}\n\nhttps://bsky.app/profile/council.example/post/3kxyz")
    # The preview shows how the pasted link will embed.
    ann.wait_for_selector("#preview figure[data-embed='bluesky']")
    assert "embedded post" in ann.locator("#embeds").inner_text()
    started = time.perf_counter()
    ann.press("#id_body", "Control+Enter")

    bob.locator("article.desk-entry", has_text=text).wait_for()
    print(f"\ndesk → colleague's desk: {(time.perf_counter() - started) * 1000:.0f} ms")
    ann.wait_for_function("() => document.querySelector('#id_body').value === ''")
    assert "Published" in ann.locator("#flash").inner_text()
    entry = Entry.objects.get(headline="Turnout")
    assert entry.status == "published"
    assert bob.locator(f"#desk-entry-{entry.pk}").is_visible()

    # A draft appears on the colleague's desk too, marked as a draft.
    ann.fill("#id_body", "Not for readers yet")
    ann.get_by_role("button", name="Save draft").click()
    bob.wait_for_selector("article[data-status='draft']:has-text('Not for readers yet')")
    assert bob.locator("article[data-status='draft'] .badge--draft").first.is_visible()

    # Deleting asks first; the colleague's timeline drops the entry.
    ann.once("dialog", lambda dialog: dialog.accept())
    ann.locator(f"#desk-entry-{entry.pk} [data-action='delete']").click()
    bob.wait_for_selector(f"#desk-entry-{entry.pk}", state="detached")
    entry.refresh_from_db()
    assert entry.status == "deleted"
    ann_ctx.close()
    bob_ctx.close()


def test_both_edit_one_entry_and_the_second_is_told_of_the_conflict(browser, newsroom):
    entry = make_entry(blog=newsroom["blog"], user=newsroom["ann"], body="Turnout 61%.")
    ann_ctx, ann = open_desk(browser, newsroom, "ann")
    bob_ctx, bob = open_desk(browser, newsroom, "bob")
    card = f"#desk-entry-{entry.pk}"
    field = f"#id_e{entry.pk}-body"

    ann.click(f"{card} [data-action='edit']")
    bob.click(f"{card} [data-action='edit']")
    ann.fill(field, "Turnout 63% (official).")
    bob.fill(field, "Turnout 62%, say party agents.")

    ann.press(field, "Control+Enter")
    ann.wait_for_selector(f"{card}:not(.editing)")
    assert "Turnout 63% (official)." in ann.locator(card).inner_text()
    # Bob's desk hears of the change while he is still typing.
    bob.wait_for_selector(f"{card} .stale-note")
    assert bob.input_value(field) == "Turnout 62%, say party agents."

    bob.press(field, "Control+Enter")
    conflict = bob.locator(f"{card} .conflict")
    conflict.wait_for()
    assert "Turnout 63% (official)." in conflict.inner_text()  # theirs, shown
    assert bob.input_value(field) == "Turnout 62%, say party agents."  # mine, kept
    assert "Someone else saved this entry first" in bob.locator(f"{card} .form-error").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    bob.locator(card).screenshot(path=str(SHOTS / "desk-conflict.png"))
    entry.refresh_from_db()
    assert entry.body == "Turnout 63% (official)."  # never silently overwritten

    bob.get_by_role("button", name="Save my version").click()
    bob.wait_for_selector(f"{card}:not(.editing)")
    entry.refresh_from_db()
    assert entry.body == "Turnout 62%, say party agents." and entry.version == 3
    ann.wait_for_selector(f"{card}[data-version='3']")
    assert "Turnout 62%, say party agents." in ann.locator(card).inner_text()

    # Each entry shows its revision history.
    ann.click(f"{card} .history summary")
    ann.wait_for_selector(f"{card} .revisions")
    assert ann.locator(f"{card} .revision").count() == 3
    ann_ctx.close()
    bob_ctx.close()


def test_a_contributors_post_waits_for_approval_then_reaches_the_public_page(browser, newsroom):
    slug = newsroom["blog"].slug
    con_ctx, con = open_desk(browser, newsroom, "con")
    ed_ctx, ed = open_desk(browser, newsroom, "editor")
    reader_ctx = browser.new_context(base_url=newsroom["url"])
    reader = reader_ctx.new_page()
    reader.goto(f"/live/{slug}/")

    text = f"Photo from the public gallery {uuid.uuid4().hex[:6]}"
    assert con.get_by_role("button", name="Publish").count() == 0
    con.fill("#id_body", text)
    con.press("#id_body", "Control+Enter")  # a contributor's shortcut submits
    con.wait_for_selector("article.desk-entry--awaiting")
    entry = Entry.objects.get(body=text)
    assert entry.status == "draft" and entry.awaiting_approval

    ed.wait_for_selector(f"#queue-list #desk-entry-{entry.pk}")
    assert ed.locator("#queue-count").inner_text() == "1"
    assert reader.locator(f"#entry-{entry.pk}").count() == 0

    ed.click(f"#desk-entry-{entry.pk} [data-action='approve']")
    ed.wait_for_selector(f"#timeline-list #desk-entry-{entry.pk}[data-status='published']")
    assert ed.locator("#queue-count").inner_text() == "0"

    reader.wait_for_selector(f"#entry-{entry.pk}", timeout=15_000)
    assert text in reader.locator(f"#entry-{entry.pk}").inner_text()
    fresh = Client().get(f"/live/{slug}/")
    assert f'id="entry-{entry.pk}"' in fresh.content.decode()
    for ctx in (con_ctx, ed_ctx, reader_ctx):
        ctx.close()


def test_publishing_from_the_desk_reaches_an_open_reader_page(browser, newsroom):
    """Benchmark: desk publish → ``#entry-<id>`` on an open reader page.

    Prints the figures; asserts only a generous bound (the requirement is
    under a second on the embedded default)."""
    slug = newsroom["blog"].slug
    desk_ctx, desk = open_desk(browser, newsroom, "ann")
    reader_ctx = browser.new_context(base_url=newsroom["url"])
    reader = reader_ctx.new_page()
    reader.goto(f"/live/{slug}/")
    reader.wait_for_load_state("networkidle")
    latencies = []
    for n in range(5):
        text = f"Latency probe {n} {uuid.uuid4().hex[:8]}"
        desk.fill("#id_body", text)
        started = time.perf_counter()
        desk.press("#id_body", "Control+Enter")
        reader.locator("article[id^='entry-']", has_text=text).wait_for(timeout=15_000)
        latencies.append(time.perf_counter() - started)
        desk.wait_for_function("() => document.querySelector('#id_body').value === ''")
    latencies.sort()
    print(
        f"\ndesk publish → open reader page: median {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"min {latencies[0] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms (n={len(latencies)})"
    )
    assert latencies[len(latencies) // 2] < 10
    desk_ctx.close()
    reader_ctx.close()


@pytest.mark.parametrize("width,height,name", [(1280, 900, "laptop"), (375, 812, "phone")])
def test_the_desk_is_keyboard_operable_and_fits_laptop_and_phone(browser, newsroom, width, height, name):
    blog = newsroom["blog"]
    make_entry(blog=blog, user=newsroom["ann"], headline="Mayor opens the session", key_event=True,
               body="> Tonight is about whether a harbour city can still afford its own harbour.")
    make_entry(blog=blog, user=newsroom["con"], status="draft", submit=True, body="Gallery photo, waiting.")
    make_entry(blog=blog, user=newsroom["bob"], status="draft", body="Draft: ferry fares explainer.")
    context, page = open_desk(browser, newsroom, "editor", width=width, height=height)

    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the desk scrolls sideways by {overflow}px at {width}px"

    # Keyboard only: skip link, then Tab to the body, type, publish.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.focus("#id_headline")
    page.keyboard.type("Keyboard headline")
    page.keyboard.press("Enter")  # moves to the body rather than publishing
    assert page.evaluate("() => document.activeElement.id") == "id_body"
    page.keyboard.press("Control+Enter")  # empty body: the error sits next to the field
    page.wait_for_selector("#id_body[aria-invalid='true']")
    assert "cannot be empty" in page.locator("#id_body-error").inner_text()
    assert "id_body-error" in page.get_attribute("#id_body", "aria-describedby")
    assert page.evaluate("() => document.activeElement.id") == "id_body"
    page.keyboard.type("Typed **without** a mouse.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("article:has-text('Typed without a mouse.')")
    assert not page.locator("#id_body-error").inner_text()
    page.fill("#id_body", "Councillors return after the break.\n\nhttps://www.youtube.com/watch?v=aqz-KE-bpKQ")
    page.wait_for_selector("#preview figure[data-embed='youtube']")

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"desk-{name}.png"), full_page=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"desk-{name}-top.png"))
    # An edit in progress, with the focus ring visible.
    first = page.locator("#timeline-list article[data-status='published']").first
    first.locator("[data-action='edit']").focus()
    page.keyboard.press("Enter")
    first.locator("form.edit-form").wait_for()
    page.keyboard.press("Escape")
    first.locator("form.edit-form").wait_for(state="detached")
    assert page.evaluate("() => document.activeElement.dataset.action") == "edit"
    page.screenshot(path=str(SHOTS / f"desk-{name}-focus.png"))
    page.goto("/desk/")
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path=str(SHOTS / f"desk-{name}-home.png"))
    context.close()


def test_the_desk_works_without_javascript(browser, newsroom):
    """Plain forms: POST, redirect, errors rendered by the server."""
    client = Client()
    client.force_login(newsroom["ann"])
    context = browser.new_context(base_url=newsroom["url"], java_script_enabled=False)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": newsroom["url"]}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    slug = newsroom["blog"].slug
    page.goto(f"/desk/blogs/{slug}/")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_selector("#id_body[aria-invalid='true']")
    assert "cannot be empty" in page.locator("#id_body-error").inner_text()
    page.fill("#id_body", "No script needed.")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_selector("article.desk-entry:has-text('No script needed.')")
    entry = Entry.objects.get(body="No script needed.")
    page.click(f"#desk-entry-{entry.pk} [data-action='edit']")
    page.fill(f"#id_e{entry.pk}-body", "No script needed at all.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(f"#desk-entry-{entry.pk}:has-text('No script needed at all.')")
    page.click(f"#desk-entry-{entry.pk} [data-action='delete']")
    page.get_by_role("button", name="Delete entry").click()
    page.wait_for_selector(f"#desk-entry-{entry.pk}", state="detached")
    entry.refresh_from_db()
    assert entry.status == "deleted" and entry.version == 3
    context.close()


def test_a_schedule_is_typed_and_shown_in_the_reporters_own_time_zone(browser, newsroom):
    context, page = open_desk(browser, newsroom, "ann", timezone_id="Asia/Tokyo", locale="en-GB")
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    tokyo = when.astimezone(ZoneInfo("Asia/Tokyo"))
    page.fill("#id_body", "Scheduled from Tokyo")
    page.locator("#composer-more summary").click()  # the options are one click away
    page.fill("#id_publish_at", tokyo.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule").click()
    badge = page.locator("article[data-status='scheduled']:has-text('Scheduled from Tokyo') .badge--scheduled")
    badge.wait_for()
    entry = Entry.objects.get(body="Scheduled from Tokyo")
    assert entry.status == "scheduled" and entry.publish_at == when
    assert tokyo.strftime("%H:%M") in badge.inner_text()
    # The edit form shows the same local time back.
    page.click(f"#desk-entry-{entry.pk} [data-action='edit']")
    assert page.input_value(f"#id_e{entry.pk}-publish_at") == tokyo.strftime("%Y-%m-%dT%H:%M")
    context.close()
