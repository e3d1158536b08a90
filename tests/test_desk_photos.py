"""Photos on the desk: without script (a multipart composer) and in a real
browser (file picker, drag and drop, paste) with axe-core at laptop and
phone widths; then the reader page shows the photo without layout shift."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from posts.domain import services
from posts.domain.models import Entry, Media, Role
from tests.a11y import assert_no_axe_violations
from tests.factories import AuthorFactory, make_blog
from tests.photos import bmp_bytes, photo_bytes, upload

from .test_desk_browser import desk_context


@pytest.fixture
def desk(reporter, blog, editor):
    services.team_set_member(blog=blog, user=editor, member=reporter, role=Role.REPORTER)
    client = Client()
    client.force_login(reporter)
    return client


def _compose(desk, blog, *, json=True, **fields):
    data = {"body": "Turnout is up.", "action": "publish", **fields}
    headers = {"HTTP_ACCEPT": "application/json"} if json else {}
    return desk.post(f"/desk/blogs/{blog.slug}/entries/", data, **headers)


@pytest.mark.django_db(transaction=True)
def test_the_composer_publishes_an_entry_with_its_photo_without_script(desk, blog):
    response = _compose(desk, blog, json=False, photo=upload(photo_bytes(size=(900, 600))),
                        photo_alt="Queue at the polling station", photo_credit="Ann")
    assert response.status_code == 302
    entry = Entry.objects.get(blog=blog, body="Turnout is up.")
    assert entry.image.alt == "Queue at the polling station" and entry.image.credit == "Ann"
    page = desk.get(f"/desk/blogs/{blog.slug}/").content.decode()
    assert 'enctype="multipart/form-data"' in page and 'alt="Queue at the polling station"' in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"photo": "bmp", "photo_alt": "x"}, 415, "photo"),
        ({"photo": "jpeg", "photo_alt": ""}, 422, "photo_alt"),
        ({"photo": "jpeg", "photo_alt": "ok", "body": ""}, 422, "body"),  # the entry fails: the photo goes too
    ],
)
def test_a_refused_photo_or_entry_answers_on_its_field_and_stores_nothing(desk, blog, fields, status, field, settings):
    kind = fields.pop("photo")
    data = bmp_bytes() if kind == "bmp" else photo_bytes(size=(300, 200))
    response = _compose(desk, blog, photo=upload(data, name=f"p.{kind}"), **fields)
    assert response.status_code == status, response.content
    assert field in response.json()["errors"]
    assert not Media.objects.exists() and not Entry.objects.filter(body="Turnout is up.").exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


# --- In a real browser ----------------------------------------------------------

JPEG_B64 = base64.b64encode(photo_bytes(size=(1600, 900))).decode()


@pytest.fixture
def newsroom(live_url):
    editor = AuthorFactory(role=Role.EDITOR, user__username="ed", display_name="Edna Editor").user
    ann = AuthorFactory(role=Role.REPORTER, user__username="ann", display_name="Ann Reporter").user
    blog = make_blog(editor=editor, title="Budget night")
    services.team_set_member(blog=blog, user=editor, member=ann, role=Role.REPORTER)
    return {"ann": ann, "blog": blog, "url": live_url}


def _open(browser, newsroom, width, height):
    context = desk_context(browser, newsroom["url"], newsroom["ann"], width=width, height=height)
    page = context.new_page()
    page.goto(f"/desk/blogs/{newsroom['blog'].slug}/")
    return context, page


def _file_transfer(page):
    """A DataTransfer holding a JPEG, made in the page (what a drop or a paste carries)."""
    return page.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "count.jpg", {type: "image/jpeg"}));
            return transfer;
        }""",
        JPEG_B64,
    )


def _publish(page, body: str, alt: str):
    page.fill("textarea[name=body]", body)
    page.fill("input[name=photo_alt]", alt)
    page.click("button[value=publish]")
    page.wait_for_function("(body) => [...document.querySelectorAll('.desk-entry .entry-body')]"
                           ".some(e => e.textContent.includes(body))", arg=body)


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_a_reporter_adds_photos_by_picker_drop_and_paste(browser, newsroom, width, height, tmp_path):
    context, page = _open(browser, newsroom, width, height)
    try:
        assert_no_axe_violations(page, f"desk with the photo fields at {width}px")

        # 1. The file picker.
        picked = tmp_path / "picked.jpg"
        picked.write_bytes(photo_bytes(size=(1200, 800)))
        page.set_input_files("input[name=photo]", str(picked))
        page.wait_for_selector("[data-photo-preview]:not([hidden])")
        assert_no_axe_violations(page, f"desk with a photo chosen at {width}px")
        _publish(page, "Picked photo.", "Ballot boxes arrive")

        # The composer is empty again, preview gone.
        assert page.eval_on_selector("input[name=photo]", "i => i.files.length") == 0
        assert page.is_hidden("[data-photo-preview]")

        # 2. Drag and drop onto the photo area.
        transfer = _file_transfer(page)
        page.dispatch_event("[data-photo-drop]", "drop", {"dataTransfer": transfer})
        page.wait_for_selector("[data-photo-preview]:not([hidden])")
        assert page.eval_on_selector("input[name=photo]", "i => i.files[0].name") == "count.jpg"
        _publish(page, "Dropped photo.", "Counting at the tables")

        # 3. Paste from the clipboard into the body.
        transfer = _file_transfer(page)
        page.eval_on_selector(
            "textarea[name=body]",
            "(area, transfer) => area.dispatchEvent(new ClipboardEvent('paste', "
            "{clipboardData: transfer, bubbles: true, cancelable: true}))",
            transfer,
        )
        page.wait_for_selector("[data-photo-preview]:not([hidden])")
        _publish(page, "Pasted photo.", "Screenshot of the results page")

        # A refused type says so next to the field, before anything is sent.
        page.eval_on_selector(
            "[data-photo-drop]",
            "(zone) => { const t = new DataTransfer(); t.items.add(new File(['%PDF'], 'x.pdf', {type: 'application/pdf'}));"
            " zone.dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true, cancelable: true})); }",
        )
        assert "not a JPEG" in page.text_content("[data-field=photo] .field-error")
    finally:
        context.close()

    alts = set(Entry.objects.filter(blog=newsroom["blog"]).values_list("image__alt", flat=True))
    assert alts == {"Ballot boxes arrive", "Counting at the tables", "Screenshot of the results page"}


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_the_reader_page_shows_the_photo_without_layout_shift(browser, newsroom, width, height):
    blog = newsroom["blog"]
    media = services.media_upload(user=newsroom["ann"], file=upload(photo_bytes(size=(1600, 900))),
                                  alt="Counting agents at work", caption="Turnout was high", credit="Ann", blog=blog)
    services.entry_create(blog=blog, user=newsroom["ann"], body="The count has begun.", image=media)
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=newsroom["url"])
    page = context.new_page()
    try:
        # Watch layout shifts from the first paint (which nodes moved).
        page.add_init_script(
            "window.__moved = []; new PerformanceObserver(list => { for (const e of list.getEntries())"
            " { for (const s of e.sources) { if (s.node && s.node.className) window.__moved.push(String(s.node.className)); } } })"
            ".observe({type: 'layout-shift', buffered: true});"
        )
        held = []  # the photo's files are held back until the page has laid out without them
        page.route("**/media/photos/**", lambda route: held.append(route))
        page.goto(f"/live/{blog.slug}/")
        image = page.locator(".entry__photo img")
        image.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        assert held and page.evaluate("() => document.querySelector('.entry__photo img').naturalWidth") == 0
        reserved = image.bounding_box()
        for route in held:
            route.continue_()
        page.unroute("**/media/photos/**")
        assert image.get_attribute("width") == "1600" and image.get_attribute("height") == "900"
        assert image.get_attribute("loading") == "lazy"
        image.scroll_into_view_if_needed()
        page.wait_for_function("() => document.querySelector('.entry__photo img').complete"
                               " && document.querySelector('.entry__photo img').naturalWidth > 0")
        box = image.bounding_box()
        assert abs(box["height"] - box["width"] * 900 / 1600) < 2  # the space kept is the photo's
        assert abs(reserved["height"] - box["height"]) < 1 and reserved["height"] > 100  # kept before the file came
        chosen = page.evaluate("() => document.querySelector('.entry__photo img').currentSrc")
        assert chosen.endswith(".webp")  # Chromium takes the WebP source
        # Nothing in or after an entry moved (the page's own aside may, on phones).
        assert not [name for name in page.evaluate("() => window.__moved") if "entry" in name]
        assert "Turnout was high" in page.text_content(".entry__caption")
        assert_no_axe_violations(page, f"live page with a photo at {width}px")

        # A photo arriving live is drawn by live.js the same way.
        services.entry_create(blog=blog, user=newsroom["ann"], body="Second photo.", image=media)
        page.wait_for_function("() => document.querySelectorAll('.entry__photo img').length === 2")
        live_image = page.locator(".entry__photo img").first
        assert live_image.get_attribute("width") == "1600" and live_image.get_attribute("srcset")
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_the_edit_form_replaces_and_removes_a_photo(desk, blog, reporter):
    first = services.media_upload(user=reporter, file=upload(photo_bytes(size=(600, 400))), alt="First", blog=blog)
    entry = services.entry_create(blog=blog, user=reporter, body="With a photo.", image=first)
    form = desk.get(f"/desk/blogs/{blog.slug}/entries/{entry.pk}/edit/").content.decode()
    assert 'enctype="multipart/form-data"' in form and 'alt="First"' in form and "Remove the photo" in form

    prefix = f"e{entry.pk}-"
    base = {f"{prefix}body": "With a photo.", f"{prefix}version": entry.version, f"{prefix}kind": "update"}
    response = desk.post(f"/desk/blogs/{blog.slug}/entries/{entry.pk}/edit/", {
        **base, f"{prefix}photo": upload(photo_bytes(size=(800, 600))), f"{prefix}photo_alt": "Second",
    }, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    entry.refresh_from_db()
    first.refresh_from_db()
    assert entry.image.alt == "Second" and first.withheld  # the old one left the public storage

    response = desk.post(f"/desk/blogs/{blog.slug}/entries/{entry.pk}/edit/", {
        **base, f"{prefix}version": entry.version, f"{prefix}photo_remove": "on",
    }, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    entry.refresh_from_db()
    assert entry.image is None and response.json()["entry"]["image"] is None
