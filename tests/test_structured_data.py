"""Structured data and feeds, checked by tools rather than by eye: the pages'
JSON-LD read back with extruct (offline: no schema.org context is fetched),
the feeds with feedparser (bozo == 0) and the JSON Feed 1.1 required fields.
Properties follow Google's LiveBlogPosting, Article and ClaimReview docs."""

from __future__ import annotations

import json

import extruct
import feedparser
import pytest

from posts.domain import services
from posts.domain.models import Author, Blog
from posts.domain.rendering import plain_text, render_markdown

from .factories import make_blog, make_entry

SITE = "http://testserver"
CLAIM = {
    "claim": "It was the biggest interview in history.",
    "claimant": "The campaign",
    "claim_url": "https://example.com/statement",
    "claim_date": "2026-11-20",
    "verdict": "False",
}


@pytest.fixture(autouse=True)
def _site(settings):
    settings.LIVEBLOG_SITE_URL = SITE
    settings.LIVEBLOG_PUBLISHER_NAME = "Harbour Herald"
    settings.LIVEBLOG_PUBLISHER_URL = f"{SITE}/"
    settings.LIVEBLOG_PUBLISHER_LOGO = f"{SITE}/static/live/publisher-logo.png"


def _items(client, path: str) -> list[dict]:
    response = client.get(path)
    assert response.status_code == 200
    return extruct.extract(response.content.decode(), base_url=SITE + path, syntaxes=["json-ld"])["json-ld"]


def _of_type(items: list[dict], kind: str) -> list[dict]:
    return [i for i in items if i.get("@type") == kind]


def _live_posting(client, blog) -> dict:
    [posting] = _of_type(_items(client, f"/live/{blog.slug}/"), "LiveBlogPosting")
    return posting


PUBLISHER = {
    "@type": "Organization",
    "name": "Harbour Herald",
    "url": f"{SITE}/",
    "logo": {"@type": "ImageObject", "url": f"{SITE}/static/live/publisher-logo.png"},
}


# --- LiveBlogPosting ------------------------------------------------------------


def test_the_live_page_carries_every_property_of_a_live_blog_posting(client, editor, reporter):
    blog = make_blog(editor=editor, title="Budget night", standfirst="The **council** sets its budget.")
    Author.objects.filter(user=reporter).update(url="https://news.example/people/rep")
    photo = make_entry(blog=blog, user=reporter, headline="Crowds outside",
                       body="Crowds gathered.\n\n![Crowd at the hall](/media/crowd.jpg)")
    text = make_entry(blog=blog, user=editor, body="Polls closed.\n\nCounting began.")
    services.entry_edit(entry=text, user=editor, version=text.version, body="Polls closed.\n\nCounting has begun.")
    blog.refresh_from_db()
    page = f"{SITE}/live/{blog.slug}/"

    posting = _live_posting(client, blog)
    assert posting["@context"] == "https://schema.org"
    assert posting["@id"] == posting["url"] == posting["mainEntityOfPage"] == page
    assert posting["headline"] == "Budget night"
    assert posting["description"] == "The council sets its budget."
    assert posting["inLanguage"] == "en-GB"
    assert posting["datePublished"] == posting["coverageStartTime"] == blog.coverage_start.isoformat().replace(
        "+00:00", "Z")
    assert posting["dateModified"] >= posting["datePublished"]
    assert "coverageEndTime" not in posting
    assert posting["publisher"] == PUBLISHER
    assert posting["image"] == [f"{SITE}/media/crowd.jpg"]
    assert {a["name"] for a in posting["author"]} == {reporter.author.name, editor.author.name}

    updates = {u["@id"]: u for u in posting["liveBlogUpdate"]}
    assert list(updates) == [f"{page}#entry-{text.pk}", f"{page}#entry-{photo.pk}"]  # newest first
    for entry_id, update in updates.items():
        assert update["@type"] == "BlogPosting"
        assert update["url"] == entry_id and "?" not in update["url"]
        for field in ("headline", "datePublished", "dateModified", "articleBody", "author"):
            assert update[field], field
    edited = updates[f"{page}#entry-{text.pk}"]
    assert edited["articleBody"] == "Polls closed.\nCounting has begun."
    assert edited["headline"] == "Polls closed. Counting has begun."
    assert edited["dateModified"] > edited["datePublished"]
    assert edited["author"] == [{"@type": "Person", "name": editor.author.name}]
    assert "image" not in edited
    pictured = updates[f"{page}#entry-{photo.pk}"]
    assert pictured["author"] == [
        {"@type": "Person", "name": reporter.author.name, "url": "https://news.example/people/rep"}
    ]
    assert pictured["image"] == [f"{SITE}/media/crowd.jpg"]


def test_a_blog_without_pictures_shows_the_publishers_logo_as_its_image(client, blog, reporter):
    make_entry(blog=blog, user=reporter, body="No pictures yet.")
    assert _live_posting(client, blog)["image"] == [PUBLISHER["logo"]["url"]]


def test_the_pinned_entry_is_an_update_even_when_older_than_the_first_page(client, blog, reporter, settings):
    settings.LIVEBLOG_PAGE_SIZE = 2
    pinned = make_entry(blog=blog, user=reporter, body="Pinned summary.", kind="summary", pinned=True)
    for i in range(3):
        make_entry(blog=blog, user=reporter, body=f"Update {i}.")
    ids = [u["@id"] for u in _live_posting(client, blog)["liveBlogUpdate"]]
    assert ids[0].endswith(f"#entry-{pinned.pk}") and len(ids) == 3


def test_coverage_end_time_appears_once_the_blog_closes(
    client, blog, reporter, editor, django_capture_on_commit_callbacks
):
    make_entry(blog=blog, user=reporter, body="Last update.")
    assert "coverageEndTime" not in _live_posting(client, blog)
    with django_capture_on_commit_callbacks(execute=True):  # the fan-out moves the cached pages on
        services.blog_close(blog=blog, user=editor, body="That is all from us.")
    blog.refresh_from_db()
    assert _live_posting(client, blog)["coverageEndTime"] == blog.coverage_end.isoformat().replace("+00:00", "Z")


def test_the_blogs_language_is_the_structured_datas(client, editor, reporter):
    blog = make_blog(editor=editor, title="Élection", language="fr-ca")
    make_entry(blog=blog, user=reporter, body="Les bureaux ferment.", fact_check=CLAIM)
    items = _items(client, f"/live/{blog.slug}/")
    assert _of_type(items, "LiveBlogPosting")[0]["inLanguage"] == "fr-CA"
    assert _of_type(items, "ClaimReview")[0]["inLanguage"] == "fr-CA"


def test_older_pages_carry_no_structured_data(client, blog, reporter, settings):
    settings.LIVEBLOG_PAGE_SIZE = 2
    for i in range(3):
        make_entry(blog=blog, user=reporter, body=f"Update {i}.")
    html = client.get(f"/live/{blog.slug}/").content.decode()
    older = html.split('data-older-link')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert _items(client, f"/live/{blog.slug}/{older}") == []


# --- ClaimReview ------------------------------------------------------------------


def test_each_fact_check_gets_a_claim_review(client, blog, reporter):
    first = make_entry(blog=blog, user=reporter, body="Wrong by tens of millions.", fact_check=CLAIM)
    second = make_entry(blog=blog, user=reporter, body="Roughly right.", fact_check={
        "claim": "Turnout was the highest in a decade.", "claimant": "The mayor", "verdict": "Mostly true"})
    make_entry(blog=blog, user=reporter, body="Not a fact check.")
    page = f"{SITE}/live/{blog.slug}/"

    reviews = {r["url"]: r for r in _of_type(_items(client, f"/live/{blog.slug}/"), "ClaimReview")}
    assert set(reviews) == {f"{page}#entry-{first.pk}", f"{page}#entry-{second.pk}"}
    review = reviews[f"{page}#entry-{first.pk}"]
    assert review["@context"] == "https://schema.org"
    assert review["claimReviewed"] == CLAIM["claim"]
    assert review["itemReviewed"] == {
        "@type": "Claim",
        "author": {"@type": "Person", "name": "The campaign"},
        "datePublished": "2026-11-20",
        "appearance": [{"@type": "CreativeWork", "url": "https://example.com/statement"}],
    }
    # Default scale True, Mostly true, Misleading, False: worst is 1, best 4.
    assert review["reviewRating"] == {
        "@type": "Rating", "ratingValue": 1, "bestRating": 4, "worstRating": 1, "alternateName": "False",
    }
    assert review["author"] == PUBLISHER
    assert review["datePublished"] == first.published_at.isoformat().replace("+00:00", "Z")

    bare = reviews[f"{page}#entry-{second.pk}"]
    assert bare["itemReviewed"] == {"@type": "Claim", "author": {"@type": "Person", "name": "The mayor"}}
    assert bare["reviewRating"]["ratingValue"] == 3 and bare["reviewRating"]["alternateName"] == "Mostly true"


def test_a_newsrooms_own_scale_sets_the_rating(client, blog, reporter, settings):
    settings.LIVEBLOG_FACT_CHECK_VERDICTS = ("Accurate", "Needs context", "Inaccurate")
    make_entry(blog=blog, user=reporter, body="Checked.", fact_check={**CLAIM, "verdict": "Needs context"})
    [review] = _of_type(_items(client, f"/live/{blog.slug}/"), "ClaimReview")
    assert review["reviewRating"] == {
        "@type": "Rating", "ratingValue": 2, "bestRating": 3, "worstRating": 1, "alternateName": "Needs context",
    }


def test_a_verdict_dropped_from_the_scale_keeps_its_label_without_numbers(client, blog, reporter, settings):
    make_entry(blog=blog, user=reporter, body="Checked.", fact_check=CLAIM)
    settings.LIVEBLOG_FACT_CHECK_VERDICTS = ("Accurate", "Inaccurate")
    from django.core.cache import cache

    cache.clear()  # the scale is read when a page is rendered
    [review] = _of_type(_items(client, f"/live/{blog.slug}/"), "ClaimReview")
    assert review["reviewRating"] == {"@type": "Rating", "alternateName": "False"}


def test_a_claim_cannot_break_out_of_its_data_block(client, blog, reporter):
    make_entry(blog=blog, user=reporter, body="x", fact_check={**CLAIM, "claim": "</script><script>alert(1)</script>"})
    html = client.get(f"/live/{blog.slug}/").content.decode()
    assert "<script>alert(1)" not in html
    [review] = _of_type(_items(client, f"/live/{blog.slug}/"), "ClaimReview")
    assert review["claimReviewed"] == "</script><script>alert(1)</script>"


# --- Permalinks ----------------------------------------------------------------------


def test_a_permalink_carries_its_entrys_blog_posting_with_the_live_pages_id(client, blog, reporter):
    entry = make_entry(blog=blog, user=reporter, headline="Checked", body="Wrong.\n\nBy far.", fact_check=CLAIM)
    for i in range(2):
        make_entry(blog=blog, user=reporter, body=f"Later {i}.")
    [in_live_page] = [u for u in _live_posting(client, blog)["liveBlogUpdate"] if u["headline"] == "Checked"]

    permalink = f"/live/{blog.slug}/entries/{entry.pk}/"
    items = _items(client, permalink)
    [posting] = _of_type(items, "BlogPosting")
    assert posting["@id"] == in_live_page["@id"] == f"{SITE}/live/{blog.slug}/#entry-{entry.pk}"
    assert posting["url"] == posting["mainEntityOfPage"] == SITE + permalink
    for field in ("headline", "datePublished", "dateModified", "articleBody", "author"):
        assert posting[field] == in_live_page[field], field
    assert posting["publisher"] == PUBLISHER
    assert posting["isPartOf"]["@id"] == f"{SITE}/live/{blog.slug}/"
    [review] = _of_type(items, "ClaimReview")
    assert review["url"] == in_live_page["@id"]


# --- plain text ---------------------------------------------------------------------


@pytest.mark.parametrize(("markdown", "text"), [
    ("Polls closed.\n\nCounting began.", "Polls closed.\nCounting began."),
    ("## Result\nLabour hold", "Result\nLabour hold"),
    ("- Turnout up\n- Votes counted", "Turnout up\nVotes counted"),
    ("> We won.\n\nSaid the mayor.", "We won.\nSaid the mayor."),
    ("Line one  \nline two", "Line one\nline two"),
    ("| Party | Seats |\n|---|---|\n| Red | 3 |", "Party Seats\nRed 3"),
    ("A paragraph\nwrapped in the source", "A paragraph wrapped in the source"),
    ("    code one\n    code two", "code one\ncode two"),
    ("**Polls** <script>x</script>closed &amp; counted", "Polls closed & counted"),
])
def test_plain_text_keeps_blocks_apart_and_words_whole(markdown, text):
    assert plain_text(render_markdown(markdown)) == text


# --- Feeds ----------------------------------------------------------------------------


@pytest.fixture
def french_blog(editor, reporter):
    blog = make_blog(editor=editor, title="Soirée électorale", language="fr-CA")
    make_entry(blog=blog, user=reporter, body="Les bureaux ouvrent.")
    make_entry(blog=blog, user=reporter, body="Bilan.", authors=[reporter, editor], fact_check=CLAIM)
    return blog


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_rss_and_atom_parse_cleanly_with_language_and_every_author(client, french_blog, reporter, editor, kind):
    response = client.get(f"/live/{french_blog.slug}/feed.{kind}")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.language == "fr-CA"
    newest, older = parsed.entries
    assert sorted(a["name"] for a in newest.authors) == sorted([reporter.author.name, editor.author.name])
    assert [a["name"] for a in older.authors] == [reporter.author.name]
    xml = response.content.decode()
    if kind == "rss":
        assert "<language>fr-CA</language>" in xml and xml.count("<dc:creator>") == 3
    else:
        assert 'xml:lang="fr-CA"' in xml


def test_author_urls_reach_atom_and_json_feed(client, blog, reporter):
    Author.objects.filter(user=reporter).update(url="https://news.example/people/rep")
    make_entry(blog=blog, user=reporter, body="Signed.")
    atom = feedparser.parse(client.get(f"/live/{blog.slug}/feed.atom").content)
    assert atom.entries[0].authors[0]["href"] == "https://news.example/people/rep"
    item = client.get(f"/live/{blog.slug}/feed.json").json()["items"][0]
    assert item["authors"] == [{"name": reporter.author.name, "url": "https://news.example/people/rep"}]


def test_json_feed_has_the_required_fields_language_authors_and_expires_on_close(
    client, french_blog, reporter, editor, django_capture_on_commit_callbacks
):
    response = client.get(f"/live/{french_blog.slug}/feed.json")
    data = response.json()
    # JSON Feed 1.1: version and title on the feed, id and content on every item.
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(data["title"], str) and data["title"]
    assert data["items"]
    for item in data["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item.get("content_html") or item.get("content_text")
        assert item["authors"] and all(a["name"] for a in item["authors"])
    assert data["language"] == "fr-CA"
    assert "expired" not in data
    assert sorted(a["name"] for a in data["items"][0]["authors"]) == sorted(
        [reporter.author.name, editor.author.name])
    assert response["Content-Type"].startswith("application/feed+json")  # feedparser 6 reads no JSON Feed

    with django_capture_on_commit_callbacks(execute=True):
        services.blog_close(blog=french_blog, user=editor, body="C'est fini.")
    assert client.get(f"/live/{french_blog.slug}/feed.json").json()["expired"] is True


# --- A blog's language through the API --------------------------------------------------


def _api(client, user):
    key = services.token_create(user=user)[1]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def test_a_blogs_language_defaults_to_the_sites_and_the_api_sets_it(client, editor, settings):
    api = _api(client, editor)
    created = api.post("/api/blogs", {"title": "Default", "status": "live"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["language"] == "en-GB"
    settings.LANGUAGE_CODE = "de"
    assert make_blog(editor=editor, title="Wahlabend").language == "de"

    created = api.post("/api/blogs", {"title": "Eleição", "status": "live", "language": "pt-br"},
                       content_type="application/json")
    assert created.json()["language"] == "pt-BR"
    slug = created.json()["slug"]
    assert client.get(f"/api/blogs/{slug}").json()["language"] == "pt-BR"
    patched = api.patch(f"/api/blogs/{slug}", {"language": "pt-PT"}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["language"] == "pt-PT"
    assert Blog.objects.get(slug=slug).language == "pt-PT"


@pytest.mark.parametrize("language", ["en_GB", "e", "english-usa-x", "fr-", "", "x" * 40, "de-DE-\u00e9"])
def test_a_language_that_is_not_a_language_tag_is_a_422(client, editor, language):
    response = _api(client, editor).post("/api/blogs", {"title": "Bad", "language": language},
                                         content_type="application/json")
    assert response.status_code == 422
    body = json.loads(response.content)
    assert body["field"] == "language" and "language tag" in body["detail"]
    assert not Blog.objects.exists()
