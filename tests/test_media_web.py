"""Photos on the surfaces: the multipart upload API and its errors, an
entry's ``image`` in the API, the page's <picture>, feeds (RSS enclosure and
media:content, Atom enclosure, JSON Feed image and attachments), JSON-LD,
og:image, the app serving MEDIA_URL, and a takedown making the files
unreachable at once with the CDN purged."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree

import feedparser
import pytest
from django.test import Client

from posts.domain import media_files, services
from posts.domain.events import EntryShape, MediaShape
from posts.domain.models import Media
from posts.web import caching
from tests.photos import bmp_bytes, bomb_png, has_gps, photo_bytes, truncated_jpeg, upload

from .fanout_support import Recorder

pytestmark = pytest.mark.django_db(transaction=True)

MEDIA_NS = "{http://search.yahoo.com/mrss/}"


@pytest.fixture
def api(reporter):
    _, key = services.token_create(user=reporter)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def _post_photo(api, data=None, *, name="photo.jpg", **fields):
    form = {"file": upload(data, name=name), "alt": "Counting agents at the tables", **fields}
    return api.post("/api/media", form)


def test_a_multipart_upload_answers_201_with_the_photo_and_its_renditions(api, blog):
    response = _post_photo(api, photo_bytes(size=(2000, 1000)), caption="The count", credit="Ana", blog=blog.slug)
    assert response.status_code == 201, response.content
    body = response.json()
    MediaShape.model_validate(body)
    assert (body["width"], body["height"], body["alt"], body["caption"], body["credit"]) == (
        2000, 1000, "Counting agents at the tables", "The count", "Ana")
    assert response["Cache-Control"].startswith("private")
    # The embedded default makes renditions in-process; GET shows them.
    again = api.get(f"/api/media/{body['id']}").json()
    assert [(r["width"], r["type"]) for r in again["renditions"]][-2:] == [(1600, "image/webp"), (1600, "image/jpeg")]
    original = Client().get(body["url"].replace("http://testserver", ""))
    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    assert not has_gps(b"".join(original.streaming_content))


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"GIF89a? no, a text file", 415, "not_an_image"),
        (bmp_bytes(), 415, "image_type_refused"),
        (bomb_png(), 413, "image_too_many_pixels"),
        (truncated_jpeg(), 422, "image_damaged"),
    ],
)
def test_bad_uploads_get_a_json_4xx_with_a_code_and_store_nothing(api, blog, data, status, code, settings):
    response = _post_photo(api, data)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code and response.json()["field"] == "file"
    assert not Media.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


def test_an_upload_over_the_size_limit_is_413(api, settings):
    settings.LIVEBLOG_MEDIA_MAX_BYTES = 5_000
    response = _post_photo(api, photo_bytes(size=(1000, 1000)) + b"\0" * 10_000)
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_missing_alt_or_file_is_a_422_naming_the_field(api):
    assert api.post("/api/media", {"file": upload()}).json()["field"] == "alt"
    assert api.post("/api/media", {"file": upload(), "alt": "  "}).json()["field"] == "alt"
    assert api.post("/api/media", {"alt": "x"}).json()["field"] == "file"


def test_uploads_need_a_token(client):
    assert client.post("/api/media", {"file": upload(), "alt": "x"}).status_code == 401


def test_the_openapi_document_describes_the_upload(client):
    doc = client.get("/api/openapi.json").json()
    upload_op = doc["paths"]["/api/media"]["post"]
    form = upload_op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "alt"} <= set(form.get("required", [])) or "$ref" in json.dumps(form)
    assert {"201", "413", "415", "422"} <= set(upload_op["responses"])
    entry_in = doc["components"]["schemas"]["EntryCreateIn"]["properties"]
    assert "image" in entry_in


def _entry_with_photo(api, blog, **fields) -> dict:
    media = _post_photo(api, photo_bytes(size=(1800, 1200)), caption="Turnout was high", credit="Ana Reporter").json()
    response = api.post(
        f"/api/blogs/{blog.slug}/entries",
        json.dumps({"body": "The count has begun.", "headline": "Counting starts", "image": media["id"], **fields}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_an_entry_carries_its_photo_in_the_api_and_events(api, blog):
    entry = _entry_with_photo(api, blog)
    EntryShape.model_validate(entry)
    assert entry["image"]["alt"] == "Counting agents at the tables"
    updates = Client().get(f"/api/blogs/{blog.slug}/updates?since=0").json()
    published = [e for e in updates["events"] if e["type"] == "entry.published"][-1]
    assert published["entry"]["image"]["id"] == entry["image"]["id"]
    response = api.post(f"/api/blogs/{blog.slug}/entries", json.dumps({"body": "x", "image": 424242}),
                        content_type="application/json")
    assert response.status_code == 422 and response.json()["field"] == "image"


def test_the_page_shows_a_picture_with_srcset_sizes_dimensions_and_lazy_loading(api, blog):
    entry = _entry_with_photo(api, blog)
    html = Client().get(f"/live/{blog.slug}/").content.decode()
    figure = re.search(r'<figure class="entry__photo">.*?</figure>', html, re.S).group(0)
    assert '<source type="image/webp" srcset="' in figure and " 480w" in figure and " 1600w" in figure
    assert 'sizes="(min-width: 44rem) 42rem, calc(100vw - 2rem)"' in figure
    assert 'width="1800" height="1200"' in figure and 'loading="lazy"' in figure
    assert 'alt="Counting agents at the tables"' in figure
    assert "Turnout was high" in figure and "Ana Reporter" in figure
    permalink = Client().get(f"/live/{blog.slug}/entries/{entry['id']}/").content.decode()
    og = re.search(r'<meta property="og:image" content="([^"]+)">', permalink).group(1)
    assert og.endswith("/1600.jpg")
    assert '<meta property="og:image:alt" content="Counting agents at the tables">' in permalink
    assert '<meta name="twitter:card" content="summary_large_image">' in permalink


def test_json_ld_carries_the_photo_as_an_image_object(api, blog):
    entry = _entry_with_photo(api, blog)
    html = Client().get(f"/live/{blog.slug}/entries/{entry['id']}/").content.decode()
    blocks = [json.loads(b) for b in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)]
    posting = blocks[0]
    image = posting["image"][0]
    assert image["@type"] == "ImageObject" and image["url"].endswith("/1600.jpg")
    assert (image["width"], image["height"], image["creditText"], image["caption"]) == (
        1600, 1067, "Ana Reporter", "Turnout was high")
    live = Client().get(f"/live/{blog.slug}/").content.decode()
    live_posting = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', live, re.S).group(1))
    assert live_posting["image"][0] == image["url"]


def test_feeds_carry_the_photo(api, blog):
    entry = _entry_with_photo(api, blog)
    client = Client()
    rss = client.get(f"/live/{blog.slug}/feed.rss").content
    item = ElementTree.fromstring(rss).find("channel/item")  # noqa: S314 - our own feed
    enclosure = item.find("enclosure")
    assert enclosure.get("type") == "image/jpeg" and enclosure.get("url").endswith("/1600.jpg")
    assert int(enclosure.get("length")) > 0
    content = item.find(f"{MEDIA_NS}content")
    assert (content.get("medium"), content.get("width"), content.get("height")) == ("image", "1600", "1067")
    assert content.find(f"{MEDIA_NS}description").text == "Counting agents at the tables"
    assert content.find(f"{MEDIA_NS}credit").text == "Ana Reporter"
    assert feedparser.parse(rss).bozo == 0

    atom = feedparser.parse(client.get(f"/live/{blog.slug}/feed.atom").content)
    links = [link for link in atom.entries[0].links if link.rel == "enclosure"]
    assert links and links[0].type == "image/jpeg" and links[0].href.endswith("/1600.jpg")

    item = client.get(f"/live/{blog.slug}/feed.json").json()["items"][0]
    assert item["id"].endswith(f"/entries/{entry['id']}/")
    assert item["image"].endswith("/1600.jpg")
    [attachment] = item["attachments"]
    assert attachment["mime_type"] == "image/jpeg" and attachment["size_in_bytes"] > 0
    assert attachment["title"] == "Counting agents at the tables"


def test_deleting_the_entry_makes_its_photo_unreachable_at_once_and_purges_the_cdn(api, blog, reporter, settings):
    cdn = Recorder()
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    settings.LIVEBLOG_CDN_PURGE_URL = f"{cdn.url}/purge/{{key}}"
    try:
        entry = _entry_with_photo(api, blog)
        media = Media.objects.get(pk=entry["image"]["id"])
        urls = [entry["image"]["url"], *(r["url"] for r in entry["image"]["renditions"])]
        reader = Client()
        assert all(reader.get(u.replace("http://testserver", "")).status_code == 200 for u in urls)
        cdn.requests.clear()

        response = api.delete(f"/api/blogs/{blog.slug}/entries/{entry['id']}")
        assert response.status_code == 204

        assert [reader.get(u.replace("http://testserver", "")).status_code for u in urls] == [404] * len(urls)
        key = media_files.surrogate_key(media.file.name)
        paths = {r.path for r in cdn.wait_for(4)}
        assert f"/purge/{key}" in paths and f"/purge/{caching.surrogate_key(blog.slug)}" in paths
    finally:
        cdn.close()


def test_served_photos_carry_cache_and_purge_headers(api):
    media = _post_photo(api).json()
    response = Client().get(media["url"].replace("http://testserver", ""))
    assert response["Cache-Control"] == "public, max-age=3600, s-maxage=604800"
    assert response["Surrogate-Key"].startswith("media-")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert Client().get("/media/photos/../../settings.py").status_code == 404
    assert Client().get("/media/photos/x/original.txt").status_code == 404


def test_an_upload_retried_with_the_same_idempotency_key_stores_one_photo(api):
    first = api.post("/api/media", {"file": upload(), "alt": "Once"}, HTTP_IDEMPOTENCY_KEY="photo-1")
    again = api.post("/api/media", {"file": upload(), "alt": "Once"}, HTTP_IDEMPOTENCY_KEY="photo-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Media.objects.count() == 1


def test_a_photo_is_read_back_only_by_people_who_write_where_it_belongs(api, editor):
    from tests.factories import UserFactory, make_blog

    other = make_blog(editor=editor, title="Elsewhere")
    media = services.media_upload(user=editor, file=upload(), alt="Theirs", blog=other)
    _, outsider_key = services.token_create(user=UserFactory())
    outsider = Client(HTTP_AUTHORIZATION=f"Bearer {outsider_key}")
    assert outsider.get(f"/api/media/{media.pk}").status_code == 404
    assert outsider.post("/api/media", {"file": upload(), "alt": "x"}).status_code == 403
    assert api.get("/api/media/999999").status_code == 404
