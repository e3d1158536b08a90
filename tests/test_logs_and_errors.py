"""Logs never carry an entry's text; Sentry is off without a DSN and sends
errors without personal data with one; production refuses to start
without its secrets."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.test import Client

from liveblog.logging import JsonLines, RequestIdFilter
from posts.domain import services
from posts.domain.models import Entry

from .fanout_support import Recorder

ROOT = Path(__file__).resolve().parent.parent


def test_no_log_record_at_any_level_carries_an_entry_text(
    blog, reporter, editor, caplog, settings, django_capture_on_commit_callbacks
):
    """A takedown must not survive in the logs: publish, edit and delete an
    entry through the API (fan-out, a failing webhook partner and all) with
    every logger at DEBUG, and look for the entry's marker everywhere."""
    marker = f"takedown-marker-{uuid.uuid4().hex}"
    settings.LIVEBLOG_WEBHOOKS_ALLOW_PRIVATE = True
    # A partner that fails, echoing what it was sent (its answer lands in last_error).
    partner = Recorder(lambda rec: (500, 0))
    try:
        services.webhook_partner_create(user=editor, url=partner.url)
        _, key = services.token_create(user=reporter)
        api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        caplog.set_level(logging.DEBUG)
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                f"/api/blogs/{blog.slug}/entries",
                {"body": f"Breaking: {marker}", "headline": f"Head {marker}", "key_event": True},
                content_type="application/json",
            )
        assert response.status_code == 201, response.content
        entry_id = response.json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            api.patch(
                f"/api/blogs/{blog.slug}/entries/{entry_id}", {"body": f"Edited {marker}", "version": 1},
                content_type="application/json",
            )
        with django_capture_on_commit_callbacks(execute=True):
            api.delete(f"/api/blogs/{blog.slug}/entries/{entry_id}")
        assert partner.requests, "the partner was called, so the failure path logged"
        assert Entry.objects.filter(pk=entry_id, status=Entry.Status.DELETED).exists()
    finally:
        partner.close()
    assert caplog.records, "something was logged, so the check means something"
    formatter = JsonLines()
    for record in caplog.records:
        RequestIdFilter().filter(record)
        assert marker not in formatter.format(record), record.name
        assert marker not in repr(record.__dict__), record.name


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in {"SENTRY_DSN", "DATABASE_URL", "REDIS_URL"}}
    full.update({"DJANGO_SETTINGS_MODULE": "liveblog.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )


def test_sentry_stays_off_without_a_dsn():
    result = _run("import django; django.setup(); import sentry_sdk; print(sentry_sdk.get_client().is_active())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def _decoded(body: bytes, encoding: str) -> bytes:
    """The SDK compresses with brotli when the module is importable, else gzip."""
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        import brotli

        return brotli.decompress(body)
    return body


def test_sentry_sends_an_error_without_personal_data_to_the_configured_dsn():
    received: list[bytes] = []

    class Ingest(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(_decoded(body, self.headers.get("Content-Encoding", "")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = (
            "import django; django.setup(); import sentry_sdk\n"
            "client = sentry_sdk.get_client()\n"
            "print(client.is_active(), client.options['send_default_pii'], client.options['include_local_variables'])\n"
            "try:\n    raise ValueError('ops-sentry-probe')\n"
            "except ValueError:\n    sentry_sdk.capture_exception()\n"
            "sentry_sdk.flush(5)\n"
        )
        result = _run(code, SENTRY_DSN=f"http://publickey@127.0.0.1:{server.server_address[1]}/1")
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False"]
    envelope = b"".join(received)
    assert b"ops-sentry-probe" in envelope and b"ValueError" in envelope
    items = [json.loads(line) for line in envelope.splitlines() if line.startswith(b"{")]
    event = next(item for item in items if item.get("exception"))
    assert "user" not in event or not event["user"].get("ip_address")


def test_production_refuses_to_start_without_its_secrets():
    code = "import django; django.setup()"
    result = _run(code, LIVEBLOG_PRODUCTION="1", SECRET_KEY="", LIVEBLOG_VAPID_PUBLIC_KEY="")
    assert result.returncode != 0
    assert "LIVEBLOG_PRODUCTION=1 needs SECRET_KEY, LIVEBLOG_VAPID_PUBLIC_KEY, LIVEBLOG_VAPID_PRIVATE_KEY" in result.stderr
    ok = _run(code, LIVEBLOG_PRODUCTION="1", SECRET_KEY="s" * 50, LIVEBLOG_VAPID_PUBLIC_KEY="pub",
              LIVEBLOG_VAPID_PRIVATE_KEY="priv")
    assert ok.returncode == 0, ok.stderr


def test_the_profile_refuses_without_secrets_unless_told_to_make_throwaway_ones(tmp_path, monkeypatch):
    from deploy.profile import SECRET_NAMES, MissingSecrets, Options, profile_secrets

    for name in SECRET_NAMES:
        monkeypatch.delenv(name, raising=False)
    opts = Options(run_dir=tmp_path)
    try:
        profile_secrets(opts)
        raise AssertionError("started without secrets")
    except MissingSecrets as exc:
        assert "SECRET_KEY" in str(exc) and "--generate-secrets" in str(exc)
    opts.generate_secrets = True
    made = profile_secrets(opts)
    assert set(made) == set(SECRET_NAMES) and all(made.values())
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    # A real VAPID pair: the public key is the private key's.
    import base64

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from py_vapid import Vapid02

    public = Vapid02.from_raw(made["LIVEBLOG_VAPID_PRIVATE_KEY"].encode()).public_key.public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    assert base64.urlsafe_b64encode(public).rstrip(b"=").decode() == made["LIVEBLOG_VAPID_PUBLIC_KEY"]
    assert profile_secrets(opts) == made  # kept across restarts of the trial
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert profile_secrets(opts)["SECRET_KEY"] == "from-the-environment"
