"""Fact checks as data: an entry carries {claim, claimant, claim_url?,
claim_date?, verdict}; services validate it, revisions keep it, editing it
after publication is an "Updated" change; the API, events, webhooks, feeds,
the reader's card and the desk carry it."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from posts.domain import fact_checks, services
from posts.domain.errors import Invalid
from posts.domain.models import Entry, EntryRevision, Event

from .factories import make_entry
from .fanout_support import Recorder

CLAIM = {
    "claim": "It was the biggest interview in history.",
    "claimant": "The campaign",
    "claim_url": "https://example.com/statement",
    "claim_date": "2026-11-20",
    "verdict": "False",
}
EXPLANATION = "It drew **12 million** viewers; the record is 60 million."


def _fact_check(blog, user, **overrides):
    """A published fact check; ``overrides`` change its parts (or, for entry
    fields such as ``status``, the entry)."""
    entry_fields = {k: overrides.pop(k) for k in ("status", "key_event", "headline") if k in overrides}
    return make_entry(blog=blog, user=user, body=EXPLANATION, fact_check={**CLAIM, **overrides}, **entry_fields)


def _api(client, user):
    key = services.token_create(user=user)[1]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


# --- The service --------------------------------------------------------------


def test_an_entry_carries_a_fact_check_and_its_first_revision_keeps_it(blog, reporter):
    entry = _fact_check(blog, reporter)
    stored = Entry.objects.get(pk=entry.pk)
    assert stored.fact_check == CLAIM
    assert stored.claim_date == date(2026, 11, 20)
    assert EntryRevision.objects.get(entry=entry).fact_check == CLAIM
    assert Entry.objects.get(pk=make_entry(blog=blog, user=reporter).pk).fact_check is None


def test_optional_parts_may_be_left_out(blog, reporter):
    entry = make_entry(blog=blog, user=reporter, body=EXPLANATION,
                       fact_check={"claim": "Turnout fell.", "claimant": "The mayor", "verdict": "True"})
    assert Entry.objects.get(pk=entry.pk).fact_check == {
        "claim": "Turnout fell.", "claimant": "The mayor", "claim_url": None, "claim_date": None, "verdict": "True",
    }


@pytest.mark.parametrize(("change", "field"), [
    ({"verdict": "Pants on fire"}, "fact_check.verdict"),
    ({"verdict": None}, "fact_check.verdict"),
    ({"claim": "  "}, "fact_check.claim"),
    ({"claimant": ""}, "fact_check.claimant"),
    ({"claim_url": "javascript:alert(1)"}, "fact_check.claim_url"),
    ({"claim_url": "example.com/x"}, "fact_check.claim_url"),
    ({"claim_date": "20 November"}, "fact_check.claim_date"),
    ({"claim_date": (timezone.now().date() + timedelta(days=3)).isoformat()}, "fact_check.claim_date"),
    ({"claim": "nul \x00 here"}, "fact_check.claim"),
    ({"claim": "x" * (fact_checks.MAX_CLAIM_CHARS + 1)}, "fact_check.claim"),
    ({"rating": 3}, "fact_check.rating"),
])
def test_a_bad_fact_check_is_refused_naming_the_part(blog, reporter, change, field):
    with pytest.raises(Invalid) as refused:
        _fact_check(blog, reporter, **change)
    assert refused.value.field == field
    assert field in refused.value.message or "fact check needs" in refused.value.message
    assert not Entry.objects.exists()


def test_the_verdict_names_the_labels_the_newsroom_uses(blog, reporter):
    with pytest.raises(Invalid, match="True, Mostly true, Misleading, False"):
        _fact_check(blog, reporter, verdict="Wrong")


def test_control_characters_are_stripped_from_the_claim(blog, reporter):
    entry = _fact_check(blog, reporter, claim="Biggest\x07 ever", claimant="The\x1b campaign")
    assert (entry.claim, entry.claimant) == ("Biggest ever", "The campaign")


def test_changing_the_verdict_after_publication_is_an_updated_change_with_its_revision(blog, reporter):
    entry = _fact_check(blog, reporter, verdict="Misleading")
    assert entry.updated_at is None
    edited = services.entry_edit(entry=entry, user=reporter, version=entry.version,
                                 fact_check={**CLAIM, "verdict": "False"})
    assert edited.updated_at is not None and edited.version == 2
    event = Event.objects.filter(blog=blog).latest("seq")
    assert event.type == "entry.updated"
    assert event.payload["entry"]["fact_check"]["verdict"] == "False"
    verdicts = [r.fact_check["verdict"] for r in EntryRevision.objects.filter(entry=entry).order_by("version")]
    assert verdicts == ["Misleading", "False"]


def test_changing_the_claim_is_an_updated_change_too_but_the_same_fact_check_is_no_change(blog, reporter):
    entry = _fact_check(blog, reporter)
    same = services.entry_edit(entry=entry, user=reporter, version=1, fact_check=dict(CLAIM))
    assert same.version == 1 and same.updated_at is None
    edited = services.entry_edit(entry=entry, user=reporter, version=1, fact_check={**CLAIM, "claim": "Biggest ever."})
    assert edited.updated_at is not None and edited.claim == "Biggest ever."


def test_a_fact_check_can_be_removed_and_flags_do_not_mark_it_updated(blog, reporter):
    entry = _fact_check(blog, reporter)
    flagged = services.entry_edit(entry=entry, user=reporter, version=1, key_event=True)
    assert flagged.updated_at is None and flagged.fact_check == CLAIM
    removed = services.entry_edit(entry=entry, user=reporter, version=flagged.version, fact_check=None)
    assert removed.fact_check is None and removed.updated_at is not None
    assert EntryRevision.objects.filter(entry=entry).latest("version").fact_check is None


def test_a_draft_fact_check_is_published_with_it(blog, reporter):
    draft = _fact_check(blog, reporter, status="draft")
    published = services.entry_publish(entry=draft, user=reporter)
    assert Event.objects.filter(blog=blog).latest("seq").payload["entry"]["fact_check"] == CLAIM
    assert published.updated_at is None


def test_a_closing_note_cannot_carry_a_fact_check(blog, editor):
    with pytest.raises(Invalid) as refused:
        make_entry(blog=blog, user=editor, kind="closing", fact_check=CLAIM)
    assert refused.value.field == "fact_check"


def test_the_rating_counts_from_the_worst_label(settings):
    settings.LIVEBLOG_FACT_CHECK_VERDICTS = ("Correct", "Half right", "Wrong")
    assert fact_checks.rating("Correct") == {"ratingValue": 3, "bestRating": 3, "worstRating": 1}
    assert fact_checks.rating("Wrong") == {"ratingValue": 1, "bestRating": 3, "worstRating": 1}
    assert fact_checks.rating("False") is None  # a label no longer on the scale


def test_a_fact_check_marked_as_a_key_event_is_listed_like_any_other(client, blog, reporter):
    entry = _fact_check(blog, reporter, key_event=True)
    data = client.get(f"/api/blogs/{blog.slug}").json()
    assert [k["id"] for k in data["key_events"]] == [entry.pk]


# --- The API, events and webhooks ------------------------------------------------


def test_the_api_takes_and_returns_a_fact_check(client, blog, reporter):
    api = _api(client, reporter)
    response = api.post(f"/api/blogs/{blog.slug}/entries", {"body": EXPLANATION, "fact_check": CLAIM},
                        content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["fact_check"] == CLAIM
    entry_id = response.json()["id"]
    assert client.get(f"/api/blogs/{blog.slug}/entries/{entry_id}").json()["fact_check"] == CLAIM
    plain = api.post(f"/api/blogs/{blog.slug}/entries", {"body": "No claim here."}, content_type="application/json")
    assert plain.json()["fact_check"] is None


@pytest.mark.parametrize(("fact_check", "field"), [
    ({**CLAIM, "verdict": "Wrong"}, "fact_check.verdict"),
    ({k: v for k, v in CLAIM.items() if k != "claim"}, "fact_check.claim"),
    ({**CLAIM, "claim_date": "yesterday"}, "fact_check.claim_date"),
    ({**CLAIM, "source": "TV"}, "fact_check.source"),
    ({**CLAIM, "claim_url": "ftp://example.com/x"}, "fact_check.claim_url"),
    ("False", "fact_check"),
])
def test_the_api_answers_a_bad_fact_check_with_a_422_naming_the_part(client, blog, reporter, fact_check, field):
    response = _api(client, reporter).post(
        f"/api/blogs/{blog.slug}/entries", {"body": EXPLANATION, "fact_check": fact_check},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert not Entry.objects.exists()


def test_patching_the_verdict_marks_the_entry_updated_and_null_removes_it(client, blog, reporter):
    entry = _fact_check(blog, reporter)
    api = _api(client, reporter)
    url = f"/api/blogs/{blog.slug}/entries/{entry.pk}"
    patched = api.patch(url, {"version": 1, "fact_check": {**CLAIM, "verdict": "Misleading"}},
                        content_type="application/json").json()
    assert patched["fact_check"]["verdict"] == "Misleading" and patched["updated_at"]
    untouched = api.patch(url, {"version": 2, "headline": "Checked"}, content_type="application/json").json()
    assert untouched["fact_check"]["verdict"] == "Misleading"
    removed = api.patch(url, {"version": 3, "fact_check": None}, content_type="application/json").json()
    assert removed["fact_check"] is None


def test_updates_carry_the_fact_check(client, blog, reporter):
    entry = _fact_check(blog, reporter)
    events = client.get(f"/api/blogs/{blog.slug}/updates?since=0").json()["events"]
    published = [e for e in events if e["type"] == "entry.published"]
    assert published[-1]["entry"]["id"] == entry.pk
    assert published[-1]["entry"]["fact_check"] == CLAIM


def test_sse_carries_the_fact_check_live_and_on_replay(live_url, blog, reporter):
    from .fanout_support import SSEClient

    client = SSEClient(f"{live_url}/live/{blog.slug}/events")
    try:
        client.next()  # retry:
        entry = _fact_check(blog, reporter)
        [live] = client.messages(1)
    finally:
        client.close()
    assert live.event == "entry.published" and live.json["entry"]["fact_check"] == CLAIM
    replay = SSEClient(f"{live_url}/live/{blog.slug}/events", last_event_id=str(int(live.id) - 1))
    try:
        replay.next()
        [again] = replay.messages(1)
    finally:
        replay.close()
    assert again.json["entry"]["id"] == entry.pk and again.json["entry"]["fact_check"] == CLAIM


def test_webhooks_carry_the_fact_check(blog, reporter, editor, settings, django_capture_on_commit_callbacks):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    server = Recorder(None)
    try:
        _, secret = services.webhook_partner_create(user=editor, url=f"{server.url}/hook")
        with django_capture_on_commit_callbacks(execute=True):
            _fact_check(blog, reporter)
        [request] = server.wait_for(1)
        payload = Webhook(secret).verify(request.body.decode(), request.headers)
        assert payload["data"]["entry"]["fact_check"] == CLAIM
    finally:
        server.close()


# --- Readers: the card and the feeds -------------------------------------------------


def test_readers_see_claim_then_verdict_as_text(client, blog, reporter):
    entry = _fact_check(blog, reporter)
    html = client.get(f"/live/{blog.slug}/").content.decode()
    article = html[html.index(f'id="entry-{entry.pk}"'):]
    article = article[: article.index("</article>")]
    card = article[article.index("data-fact-check"):]
    assert card.index("It was the biggest interview in history.") < card.index(">False</strong>")
    assert "<dt>Claim</dt>" in card and "<dt>Verdict</dt>" in card and "<dt>Made by</dt>" in card
    assert "The campaign" in card and '<time datetime="2026-11-20">20 November 2026</time>' in card
    assert '<a href="https://example.com/statement"' in card and ">example.com</a>" in card
    permalink = client.get(f"/live/{blog.slug}/entries/{entry.pk}/").content.decode()
    assert ">False</strong>" in permalink


def test_the_card_escapes_what_the_writer_typed(client, blog, reporter):
    _fact_check(blog, reporter, claim="<script>alert(1)</script>", claimant="<b>Bob</b>")
    html = client.get(f"/live/{blog.slug}/").content.decode()
    assert "<script>alert(1)" not in html and "<b>Bob</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_feeds_carry_the_fact_check_as_text(client, blog, reporter):
    import feedparser

    _fact_check(blog, reporter)
    line = "Fact check: “It was the biggest interview in history.” (The campaign, 2026-11-20, " \
           "https://example.com/statement). Verdict: False."
    rss = feedparser.parse(client.get(f"/live/{blog.slug}/feed.rss").content)
    assert rss.entries[0].summary.startswith(line + "\n")  # RSS descriptions are plain text
    atom = feedparser.parse(client.get(f"/live/{blog.slug}/feed.atom").content)
    text = atom.entries[0].summary
    assert "Verdict: <strong>False</strong>" in text and "It was the biggest interview" in text
    item = client.get(f"/live/{blog.slug}/feed.json").json()["items"][0]
    assert item["content_text"].startswith(line + "\n")
    assert "Verdict: <strong>False</strong>" in item["content_html"]


# --- The desk ----------------------------------------------------------------------


def _composer(blog, **fields):
    return {"body": EXPLANATION, "action": "publish", **fields}


FORM_CLAIM = {
    "fact_claim": CLAIM["claim"], "fact_claimant": CLAIM["claimant"], "fact_claim_url": CLAIM["claim_url"],
    "fact_claim_date": CLAIM["claim_date"], "fact_verdict": "False",
}


def test_the_desk_composer_has_the_fact_check_fields_in_a_collapsed_section(client, blog, reporter):
    client.force_login(reporter)
    html = client.get(reverse("desk:blog", kwargs={"slug": blog.slug})).content.decode()
    section = html[html.index("data-fact-check-fields"):]
    section = section[: section.index("</details>")]
    assert " open" not in section[:40]
    for name in FORM_CLAIM:
        assert f'name="{name}"' in section
    assert '<option value="Mostly true">Mostly true</option>' in section


def test_the_desk_composer_publishes_a_fact_check(client, blog, reporter):
    client.force_login(reporter)
    response = client.post(reverse("desk:entry-create", kwargs={"slug": blog.slug}), _composer(blog, **FORM_CLAIM))
    assert response.status_code == 302
    assert Entry.objects.get().fact_check == CLAIM


def test_the_desk_puts_a_verdict_error_next_to_the_verdict(client, blog, reporter):
    client.force_login(reporter)
    url = reverse("desk:entry-create", kwargs={"slug": blog.slug})
    fields = {**FORM_CLAIM, "fact_verdict": ""}
    response = client.post(url, _composer(blog, **fields), HTTP_ACCEPT="application/json")
    assert response.status_code == 422
    assert "fact_verdict" in response.json()["errors"]
    page = client.post(url, _composer(blog, **fields)).content.decode()
    section = page[page.index("data-fact-check-fields"):]
    assert section[: section.index(">")].endswith(" open")
    assert "must be one of" in section[: section.index("</details>")]
    assert not Entry.objects.exists()


def test_the_desk_edit_form_shows_and_changes_the_verdict(client, blog, reporter):
    entry = _fact_check(blog, reporter)
    client.force_login(reporter)
    url = reverse("desk:entry-edit", kwargs={"slug": blog.slug, "entry_id": entry.pk})
    form = client.get(url).content.decode()
    assert f'value="{CLAIM["claimant"]}"' in form and '<option value="False" selected>' in form
    prefix = f"e{entry.pk}-"
    data = {f"{prefix}{k}": v for k, v in {**FORM_CLAIM, "fact_verdict": "Misleading", "body": EXPLANATION,
                                           "version": 1}.items()}
    response = client.post(url, data, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["entry"]["fact_check"]["verdict"] == "Misleading" and body["entry"]["updated_at"]


def test_emptying_the_desk_fields_removes_the_fact_check(client, blog, reporter):
    entry = _fact_check(blog, reporter)
    client.force_login(reporter)
    url = reverse("desk:entry-edit", kwargs={"slug": blog.slug, "entry_id": entry.pk})
    response = client.post(url, {f"e{entry.pk}-body": EXPLANATION, f"e{entry.pk}-version": 1},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert json.loads(response.content)["entry"]["fact_check"] is None


# --- In a real browser: the card the script draws, and axe ---------------------------

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
POLL_ONLY = "window.LIVEBLOG_TRANSPORT = 'poll'; window.LIVEBLOG_POLL_MS = 250;"


def _axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))""")


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_the_card_reads_the_same_drawn_by_the_server_or_the_script_and_passes_axe(
    live_url, browser, blog, reporter, viewport
):
    served = _fact_check(blog, reporter, key_event=True)
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.add_init_script(POLL_ONLY)
        page.goto(f"{live_url}/live/{blog.slug}/")
        pushed = _fact_check(blog, reporter, claim="Crowds were the largest ever.", verdict="Misleading")
        card = page.locator(f"#entry-{pushed.pk} [data-fact-check]")
        card.wait_for()
        server_card = page.locator(f"#entry-{served.pk} [data-fact-check]")
        assert card.locator(".fact-check__verdict dd").inner_text() == "Misleading"
        assert server_card.locator(".fact-check__verdict dd").inner_text() == "False"
        assert card.locator(".fact-check__claim q").inner_text() == "Crowds were the largest ever."
        for drawn in (card, server_card):
            assert drawn.locator(".fact-check__source dd").inner_text() == \
                "The campaign, 20 November 2026 (example.com)"
        # The script's markup is the template's: same elements, classes and order.
        shape = "el => [...el.querySelectorAll('*')].map(n => n.tagName + '.' + n.className).join(' ')"
        assert card.evaluate(shape) == server_card.evaluate(shape)
        assert _axe_violations(page) == []
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_a_reporter_composes_a_fact_check_at_the_desk(live_url, browser, blog, reporter, viewport):
    from django.test import Client

    session = Client()
    session.force_login(reporter)
    context = browser.new_context(viewport=viewport, base_url=live_url, bypass_csp=True)
    context.add_cookies([{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_url}])
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"/desk/blogs/{blog.slug}/")
        composer = page.locator("#composer")
        section = composer.locator("[data-fact-check-fields]")
        assert section.get_attribute("open") is None
        section.locator("summary").click()
        composer.get_by_label("Body").fill(EXPLANATION)
        section.get_by_label("Claim").fill(CLAIM["claim"])
        section.get_by_label("Made by").fill(CLAIM["claimant"])
        section.get_by_label("Where (link)").fill(CLAIM["claim_url"])
        section.get_by_label("When").fill(CLAIM["claim_date"])
        section.get_by_label("Verdict").select_option("False")
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async () => (await axe.run('[data-fact-check-fields]',
            {resultTypes: ['violations']})).violations.map(v => v.id + ': ' + v.nodes.map(n => n.target).join())""")
        assert violations == []
        composer.get_by_role("button", name="Publish").click()
        page.wait_for_function("document.querySelector('[data-entry-id], [id^=desk-entry-]') !== null")
        deadline = time.monotonic() + 10
        while not Entry.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Entry.objects.get().fact_check == CLAIM
    finally:
        context.close()
