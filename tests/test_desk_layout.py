"""The desk as a reporter on deadline sees it: at 1280x900 Publish and the
newest published entry are in the first viewport, side by side; on a phone
(390x844) Publish is in the first viewport and the timeline one tap away;
the approval queue is a count in the header and on the blog list; and
axe-core finds nothing on any desk page. Screenshots go to DESK_SCREENSHOTS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from posts.domain import services
from posts.domain.models import Role

from .a11y import assert_no_axe_violations
from .factories import AuthorFactory, make_blog, make_entry
from .test_desk_browser import desk_context

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("DESK_SCREENSHOTS", "/tmp/desk-screenshots"))


@pytest.fixture
def busy_blog(live_url):
    """An evening's desk: twelve published entries, two drafts, one scheduled,
    three contributors' drafts waiting for approval."""
    editor = AuthorFactory(role=Role.EDITOR, user__username="ed", display_name="Edna Editor").user
    ann = AuthorFactory(role=Role.REPORTER, user__username="ann", display_name="Ann Reporter").user
    con = AuthorFactory(role=Role.CONTRIBUTOR, user__username="con", display_name="Cy Contributor").user
    blog = make_blog(editor=editor, title="Harbour city budget night")
    services.team_set_member(blog=blog, user=editor, member=ann, role=Role.REPORTER)
    services.team_set_member(blog=blog, user=editor, member=con, role=Role.CONTRIBUTOR)
    for n in range(12):
        make_entry(blog=blog, user=ann, headline=f"Update {n}", body=f"Councillors debate item {n}.\n\nMore detail.")
    newest = make_entry(blog=blog, user=ann, headline="Newest: budget passes", body="By 31 votes to 20.", key_event=True)
    make_entry(blog=blog, user=ann, status="draft", body="Draft: ferry fares explainer.")
    make_entry(blog=blog, user=ann, status="draft", body="Draft: reaction quotes.")
    for n in range(3):
        make_entry(blog=blog, user=con, status="draft", submit=True, body=f"Gallery photo {n}, waiting.")
    return {"blog": blog, "editor": editor, "ann": ann, "con": con, "newest": newest, "url": live_url}


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return box


def _in_first_viewport(box: dict, height: int) -> bool:
    return box["y"] >= 0 and box["y"] + box["height"] <= height


def test_at_1280_publish_and_the_newest_entry_are_in_the_first_viewport(browser, busy_blog):
    context = desk_context(browser, busy_blog["url"], busy_blog["editor"], width=1280, height=900)
    page = context.new_page()
    page.goto(f"/desk/blogs/{busy_blog['blog'].slug}/")
    publish = _box(page, "#composer button[value='publish']")
    newest = _box(page, f"#timeline-list #desk-entry-{busy_blog['newest'].pk}")
    print(f"\n1280x900: Publish bottom {publish['y'] + publish['height']:.0f}px, newest entry top {newest['y']:.0f}px")
    assert _in_first_viewport(publish, 900)
    assert newest["y"] < 900 and newest["y"] >= 0
    assert page.locator("#timeline-list .desk-entry").first.get_attribute("id") == f"desk-entry-{busy_blog['newest'].pk}"
    # Side by side: the timeline starts level with the composer, to its right.
    composer = _box(page, "#composer")
    timeline = _box(page, "#timeline")
    assert timeline["x"] > composer["x"] + composer["width"] - 1 and abs(timeline["y"] - composer["y"]) < 80
    # The rest of the composer is one click away.
    assert not page.locator("#id_publish_at").is_visible()
    # The queue is a count in the header.
    assert page.locator("header [data-waiting-count]").inner_text() == "3"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "layout-1280.png"))
    # Writing a long entry, the action bar stays in sight.
    page.fill("#id_body", "\n".join(f"Line {n} of a long entry." for n in range(60)))
    page.locator("#composer-more summary").click()
    page.mouse.wheel(0, 700)
    page.wait_for_timeout(200)
    assert _in_first_viewport(_box(page, "#composer button[value='publish']"), 900)
    page.screenshot(path=str(SHOTS / "layout-1280-long.png"))
    context.close()


def test_on_a_phone_publish_is_in_the_first_viewport_and_the_timeline_one_tap_away(browser, busy_blog):
    context = desk_context(browser, busy_blog["url"], busy_blog["ann"], width=390, height=844, has_touch=True,
                           is_mobile=True)
    page = context.new_page()
    page.goto(f"/desk/blogs/{busy_blog['blog'].slug}/")
    publish = _box(page, "#composer button[value='publish']")
    print(f"\n390x844: Publish bottom {publish['y'] + publish['height']:.0f}px")
    assert _in_first_viewport(publish, 844)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the desk scrolls sideways by {overflow}px"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "layout-390.png"))
    page.locator("nav.jump a[href='#timeline']").tap()
    page.wait_for_timeout(300)
    newest = _box(page, f"#timeline-list #desk-entry-{busy_blog['newest'].pk}")
    assert _in_first_viewport(newest, 844) or newest["y"] < 844 - 100
    page.screenshot(path=str(SHOTS / "layout-390-timeline.png"))
    context.close()


def test_the_blog_list_says_how_many_drafts_wait_for_approval(browser, busy_blog):
    context = desk_context(browser, busy_blog["url"], busy_blog["editor"])
    page = context.new_page()
    page.goto("/desk/")
    assert "3 waiting" in page.locator(".blog-item", has_text="Harbour city budget night").inner_text()
    context.close()


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_axe_finds_nothing_on_any_desk_page(browser, busy_blog, width, height):
    blog, entry = busy_blog["blog"], busy_blog["newest"]
    anonymous = browser.new_context(base_url=busy_blog["url"], viewport={"width": width, "height": height})
    page = anonymous.new_page()
    page.goto("/desk/login/")
    assert_no_axe_violations(page, "the login page")
    anonymous.close()
    context = desk_context(browser, busy_blog["url"], busy_blog["editor"], width=width, height=height)
    page = context.new_page()
    for path in (
        "/desk/",
        "/desk/new-blog/",
        f"/desk/blogs/{blog.slug}/",
        f"/desk/blogs/{blog.slug}/older/",
        f"/desk/blogs/{blog.slug}/entries/{entry.pk}/edit/",
        f"/desk/blogs/{blog.slug}/entries/{entry.pk}/history/",
        f"/desk/blogs/{blog.slug}/entries/{entry.pk}/delete/",
        "/desk/blogs/no-such-blog/",
    ):
        page.goto(path)
        assert_no_axe_violations(page, f"{path} at {width}px")
    # The desk with its folded parts open and an edit in progress.
    page.goto(f"/desk/blogs/{blog.slug}/")
    page.locator("#composer-more summary").click()
    page.locator(f"#desk-entry-{entry.pk} [data-action='edit']").click()
    page.locator(f"#desk-entry-{entry.pk} form.edit-form").wait_for()
    page.locator("#queue-list .send-back summary").first.click()
    assert_no_axe_violations(page, f"the desk with options, an edit and a note open at {width}px")
    context.close()
