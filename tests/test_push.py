"""Web Push: readers opt in, key events and the closing note are pushed,
encrypted and VAPID-signed, to the push service (here a local HTTP server
standing in for the browser vendor's); gone subscriptions are removed."""

from __future__ import annotations

import base64
import json
import os
from io import StringIO

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import call_command
from django.test import Client

from posts.delivery import push, tasks
from posts.domain import services
from posts.domain.models import Event, PushSubscription
from tests.factories import make_entry

from .fanout_support import Recorder


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """The keys a browser makes for one push subscription."""

    def __init__(self, endpoint: str):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = endpoint

    def subscription(self) -> dict:
        public = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64u(public), "auth": b64u(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


@pytest.fixture
def vapid(settings):
    private, public = push.generate_keys()
    settings.LIVEBLOG_VAPID_PRIVATE_KEY = private
    settings.LIVEBLOG_VAPID_PUBLIC_KEY = public
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True  # the push service is local
    settings.LIVEBLOG_VAPID_SUBJECT = "mailto:desk@example.org"
    return public


@pytest.fixture
def push_service():
    status = {"code": 201}
    server = Recorder(lambda rec: (status["code"], 0))
    server.status = status
    yield server
    server.close()


def _subscribe(blog, browser) -> int:
    response = Client().post(
        f"/live/{blog.slug}/push/subscribe", browser.subscription(), content_type="application/json"
    )
    return response


def _publish(commit, **kwargs):
    with commit(execute=True):
        return make_entry(**kwargs)


def _verify_vapid(authorization: str, public_key_b64: str) -> dict:
    assert authorization.startswith("vapid ")
    params = dict(part.strip().split("=", 1) for part in authorization[len("vapid "):].split(","))
    assert params["k"] == public_key_b64
    header, claims, signature = params["t"].split(".")
    raw = unb64u(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(params["k"]))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(SHA256()))  # raises if forged
    return json.loads(unb64u(claims))


def test_a_key_event_is_pushed_encrypted_and_vapid_signed(
    blog, reporter, vapid, push_service, django_capture_on_commit_callbacks
):
    browser = Browser(f"{push_service.url}/push/abc")
    assert _subscribe(blog, browser).status_code == 201
    assert _subscribe(blog, browser).status_code == 200  # idempotent
    assert PushSubscription.objects.count() == 1

    _publish(django_capture_on_commit_callbacks, blog=blog, user=reporter, body="Routine update.")
    assert push_service.requests == []  # not a key event
    entry = _publish(
        django_capture_on_commit_callbacks, blog=blog, user=reporter,
        headline="Result declared", body="The seat has changed hands.", key_event=True,
    )

    [request] = push_service.wait_for(1)
    assert request.path == "/push/abc"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert int(request.headers["ttl"]) > 0
    claims = _verify_vapid(request.headers["authorization"], vapid)
    assert claims["aud"] == push_service.url and claims["sub"] == "mailto:desk@example.org"
    note = browser.decrypt(request.body)
    assert note["title"] == blog.title and note["body"] == "Result declared"
    assert note["url"].endswith(f"/live/{blog.slug}/entries/{entry.pk}/")


def test_the_closing_note_is_pushed(blog, editor, vapid, push_service, django_capture_on_commit_callbacks):
    browser = Browser(f"{push_service.url}/push/closing")
    _subscribe(blog, browser)
    with django_capture_on_commit_callbacks(execute=True):
        services.blog_close(blog=blog, user=editor, body="That's all from the count tonight.")
    [request] = push_service.wait_for(1)
    note = browser.decrypt(request.body)
    assert note["title"].startswith("Closing") and "That's all" in note["body"]


def test_an_event_is_pushed_to_a_browser_at_most_once(
    blog, reporter, vapid, push_service, django_capture_on_commit_callbacks
):
    _subscribe(blog, Browser(f"{push_service.url}/push/once"))
    _publish(django_capture_on_commit_callbacks, blog=blog, user=reporter, body="Key!", key_event=True)
    event = Event.objects.get(type="entry.published")
    Event.objects.filter(pk=event.pk).update(fanned_out_at=None)
    tasks.fan_out_task(event.pk)  # the sweep re-running an unconfirmed event
    assert len(push_service.wait_for(1)) == 1
    assert push.send_batch(event_id=event.pk, subscription_ids=list(PushSubscription.objects.values_list("pk", flat=True))) == 0


@pytest.mark.parametrize("code", [404, 410])
def test_a_subscription_the_push_service_no_longer_knows_is_removed(
    code, blog, reporter, vapid, push_service, django_capture_on_commit_callbacks
):
    push_service.status["code"] = code
    _subscribe(blog, Browser(f"{push_service.url}/push/gone"))
    kept = Browser(f"{push_service.url}/push/kept")
    _subscribe(blog, kept)
    answers = {"/push/gone": code, "/push/kept": 201}
    push_service.respond = lambda rec: (answers[rec.path], 0)
    _publish(django_capture_on_commit_callbacks, blog=blog, user=reporter, body="Key", key_event=True)
    assert len(push_service.wait_for(2)) == 2
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [kept.endpoint]


def test_readers_can_unsubscribe(blog, vapid, push_service):
    browser = Browser(f"{push_service.url}/push/bye")
    _subscribe(blog, browser)
    response = Client().post(
        f"/live/{blog.slug}/push/unsubscribe", browser.subscription(), content_type="application/json"
    )
    assert response.status_code == 200 and not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b'{"endpoint": "https://push.example/x"}', 400),
        (b'{"endpoint": "https://93.184.216.34/x", "keys": {"p256dh": "abc", "auth": "def"}}', 422),
    ],
)
def test_bad_subscriptions_get_a_clear_4xx(blog, body, status):
    response = Client().post(f"/live/{blog.slug}/push/subscribe", body, content_type="application/json")
    assert response.status_code == status
    assert response.json()["detail"]
    assert not PushSubscription.objects.exists()


def test_subscribing_to_an_unknown_blog_is_404_and_private_endpoints_are_refused(blog, settings):
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = False
    browser = Browser("https://127.0.0.1/push/internal")
    assert Client().post("/live/nope/push/subscribe", browser.subscription(), content_type="application/json").status_code == 404
    response = _subscribe(blog, browser)
    assert response.status_code == 422 and "private" in response.json()["detail"]


def test_the_service_worker_is_served_from_the_root_and_the_key_is_public(client, vapid):
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and worker["Content-Type"].startswith("application/javascript")
    assert worker["Service-Worker-Allowed"] == "/"
    assert b"showNotification" in worker.content
    assert client.get("/push/key").json() == {"publicKey": vapid}


def test_generate_vapid_keys_prints_a_usable_pair():
    out = StringIO()
    call_command("generate_vapid_keys", stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    private, public = lines["LIVEBLOG_VAPID_PRIVATE_KEY"], lines["LIVEBLOG_VAPID_PUBLIC_KEY"]
    key = ec.derive_private_key(int.from_bytes(unb64u(private), "big"), ec.SECP256R1())
    assert b64u(key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)) == public


def test_without_configured_keys_a_pair_is_made_once_and_kept(settings, tmp_path):
    settings.LIVEBLOG_VAPID_PRIVATE_KEY = settings.LIVEBLOG_VAPID_PUBLIC_KEY = ""
    settings.LIVEBLOG_VAPID_KEY_FILE = str(tmp_path / "vapid.json")
    first = push.vapid_keys()
    assert push.vapid_keys() == first
    assert oct((tmp_path / "vapid.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.browser
def test_the_live_page_offers_push_opt_in_and_registers_the_service_worker(live_url, blog, page):
    page.goto(f"{live_url}/live/{blog.slug}/")
    button = page.locator(f"[data-push-subscribe='{blog.slug}']")
    button.wait_for(state="visible")
    assert button.inner_text() == "Notify me of key events"
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == f"{live_url}/"


def test_a_key_event_with_a_photo_is_pushed_with_its_image(
    blog, reporter, vapid, push_service, django_capture_on_commit_callbacks
):
    from tests.photos import photo_bytes, upload

    browser = Browser(f"{push_service.url}/push/photo")
    _subscribe(blog, browser)
    with django_capture_on_commit_callbacks(execute=True):  # renditions at commit
        media = services.media_upload(user=reporter, file=upload(photo_bytes(size=(2000, 1000))), alt="Crowd", blog=blog)
    _publish(django_capture_on_commit_callbacks, blog=blog, user=reporter, headline="Declared",
             body="Result.", key_event=True, image=media)
    [request] = push_service.wait_for(1)
    note = browser.decrypt(request.body)
    assert note["image"].endswith("/960.jpg")  # the narrowest JPEG rendition a notification fills
