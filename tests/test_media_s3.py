"""Photos in an S3-compatible store through django-storages, against moto's
server mode on loopback (started here, ended by its pid): stored without
EXIF, renditions beside the original, a takedown moves the files to the
private prefix (the public URL stops answering), an erase removes them; and
the settings build that configuration from LIVEBLOG_MEDIA_S3_*."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests

from posts.domain import media_files, services
from posts.domain.serializers import media_dict
from tests.factories import make_entry
from tests.photos import has_gps, photo_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "newsroom-photos"
CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region_name": "us-east-1"}
MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url, timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()[-500:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        os.kill(server.pid, signal.SIGTERM)  # ours, by pid
        server.wait(timeout=10)


@pytest.fixture
def s3(moto_url, settings):
    client = boto3.client("s3", endpoint_url=moto_url, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    common = {**CREDENTIALS, "bucket_name": BUCKET, "endpoint_url": moto_url, "file_overwrite": False}
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "posts.domain.media_files.PhotoS3Storage", "OPTIONS": {
            **common, "location": "media", "default_acl": "public-read", "querystring_auth": False,
            "object_parameters": {"CacheControl": "public, max-age=3600, s-maxage=604800"}}},
        "withheld": {"BACKEND": "posts.domain.media_files.PhotoS3Storage", "OPTIONS": {
            **common, "location": "withheld", "default_acl": "private", "querystring_auth": True}},
    }
    return client


def _keys(client, prefix: str) -> set[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"] for item in listing.get("Contents", [])}


def test_a_photo_lives_in_the_bucket_and_a_takedown_makes_it_private(s3, reporter, editor, blog):
    media = services.media_upload(user=reporter, file=upload(photo_bytes(size=(1200, 800))), alt="Count", blog=blog)
    media.refresh_from_db()
    shape = media_dict(media)
    assert shape["url"].startswith(f"{s3.meta.endpoint_url}/{BUCKET}/media/photos/")
    public = _keys(s3, "media/photos/")
    assert public == {f"media/{name}" for name in media.names} and len(public) == 7  # original + 3 widths × 2
    served = requests.get(shape["url"], timeout=5)
    assert served.status_code == 200 and not has_gps(served.content)
    assert served.headers["Cache-Control"] == "public, max-age=3600, s-maxage=604800"
    assert served.headers["x-amz-meta-surrogate-key"] == media_files.surrogate_key(media.file.name)
    grants = s3.get_object_acl(Bucket=BUCKET, Key=f"media/{media.file.name}")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ" for g in grants)

    entry = make_entry(blog=blog, user=reporter, image=media)
    services.entry_delete(entry=entry, user=reporter)

    assert _keys(s3, "media/photos/") == set()
    kept = s3.head_object(Bucket=BUCKET, Key=f"withheld/{media.file.name}")
    assert kept["Metadata"]["surrogate-key"] == media_files.surrogate_key(media.file.name)
    withheld = _keys(s3, "withheld/photos/")
    assert withheld == {f"withheld/{name}" for name in media.names}
    assert requests.get(shape["url"], timeout=5).status_code == 404
    grants = s3.get_object_acl(Bucket=BUCKET, Key=f"withheld/{media.file.name}")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)

    services.entry_erase(entry=entry, user=editor, reason="Court order")
    assert _keys(s3, "withheld/photos/") == set() and _keys(s3, "media/photos/") == set()


def test_the_settings_build_the_s3_storages_from_the_environment():
    env = {**os.environ, "LIVEBLOG_MEDIA_S3_BUCKET": BUCKET, "LIVEBLOG_MEDIA_S3_ENDPOINT_URL": "http://127.0.0.1:9",
           "LIVEBLOG_MEDIA_S3_CUSTOM_DOMAIN": "photos.example.org"}
    script = ("import json, liveblog.settings as s; "
              "print(json.dumps({k: s.STORAGES[k] for k in ('default', 'withheld')}, default=str))")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    storages = json.loads(out.stdout)
    assert storages["default"]["BACKEND"] == storages["withheld"]["BACKEND"] == "posts.domain.media_files.PhotoS3Storage"
    public, private = storages["default"]["OPTIONS"], storages["withheld"]["OPTIONS"]
    assert (public["bucket_name"], public["location"], public["default_acl"], public["querystring_auth"]) == (
        BUCKET, "media", "public-read", False)
    assert public["custom_domain"] == "photos.example.org"
    assert (private["location"], private["default_acl"]) == ("withheld", "private")

    # ACLs disabled on the bucket: none is sent, a bucket policy decides.
    env["LIVEBLOG_MEDIA_S3_ACL"] = ""
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    storages = json.loads(out.stdout)
    assert storages["default"]["OPTIONS"]["default_acl"] is None is storages["withheld"]["OPTIONS"]["default_acl"]
