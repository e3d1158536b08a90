"""The Content-Security-Policy breaks nothing in Chromium: the live page, the
desk, the admin and the API docs run their scripts and report no violation."""

from __future__ import annotations

import pytest

from posts.domain.models import Role

from .factories import AuthorFactory, make_blog, make_entry

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(browser, live_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_url)
    context.add_init_script(WATCH)
    context.set_default_timeout(10_000)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(str(e)))
    yield page, console
    context.close()


def _clean(page, console, where: str) -> None:
    violations = page.evaluate("window.__csp")
    assert violations == [], f"{where}: {violations}"
    refused = [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    assert refused == [], f"{where}: {refused}"


def test_public_pages_run_their_scripts_under_the_policy(watched, live_url):
    page, console = watched
    editor = AuthorFactory(role=Role.EDITOR, user__username="chief").user
    blog = make_blog(editor=editor, title="Count night")
    entry = make_entry(blog=blog, user=editor, body="First **result**", key_event=True)
    page.goto(f"/live/{blog.slug}/")
    page.wait_for_timeout(500)  # live.js connects to the SSE channel
    make_entry(blog=blog, user=editor, body="Second result arrives live")
    page.get_by_text("Second result arrives live").wait_for()  # live.js follows the SSE channel
    _clean(page, console, "live page")
    page.goto(f"/live/{blog.slug}/entries/{entry.pk}/")
    page.wait_for_timeout(300)
    _clean(page, console, "permalink")
    page.goto("/")
    page.wait_for_load_state("networkidle")
    _clean(page, console, "home")


def test_the_desk_admin_and_api_docs_run_under_the_policy(watched, live_url):
    page, console = watched
    editor = AuthorFactory(role=Role.EDITOR, user__username="chief").user
    editor.is_staff = editor.is_superuser = True
    editor.set_password("pw-for-tests")
    editor.save()
    blog = make_blog(editor=editor, title="Count night")
    page.goto("/desk/login/")
    page.fill("#id_username", "chief")
    page.fill("#id_password", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url("**/desk/")
    page.goto(f"/desk/blogs/{blog.slug}/")
    page.fill("#composer textarea[name=body]", "**Bold** preview")
    page.locator("#preview strong").wait_for()  # desk.js asked the server for the preview
    _clean(page, console, "desk")

    for url in ["/admin/", "/admin/posts/entry/add/", "/admin/posts/webhookpartner/add/"]:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        _clean(page, console, url)
    page.goto("/admin/posts/webhookpartner/add/")
    page.locator("#id_blogs_from, .selector-available select").first.wait_for()  # SelectFilter2 ran

    page.goto("/api/docs")
    page.locator(".opblock").first.wait_for()  # Swagger UI rendered the schema
    _clean(page, console, "api docs")
