"""The live channel's push engine for the production profile: nginx's Nchan
module (Debian's ``libnginx-mod-nchan``), fed over loopback HTTP.

nginx answers a fresh ``/live/<slug>/events`` (no ``Last-Event-ID``) from
Nchan, in C, at a few kilobytes per reader; the app never sees that reader.
Nchan's ``http-raw-stream`` subscriber passes each published message through
byte for byte, so what we publish is the finished SSE frame the app's own
stream would send (:func:`posts.sse.format_message`): ``id: <seq>``,
``event: <type>``, ``data: <JSON>`` -- the public contract, with our seq as
the id rather than Nchan's own message ids. Each frame also carries
``retry:``, because Nchan has nothing to say when a reader connects.

A reader that resumes (``Last-Event-ID`` header or ``?last_event_id=``) is
routed by nginx to the app's stream instead, which replays exactly what was
missed from the event log and then follows the channel; Nchan keeps no
message buffer (``nchan_message_buffer_length 0``), so there is one source of
truth for replays. See ``deploy/README.md``.

Enabled by ``LIVEBLOG_NCHAN_PUBLISH_URL`` (e.g. ``http://127.0.0.1:8081/pub``;
the channel is appended as ``/<slug>``), which ``deploy/profile.py`` sets.
One keep-alive connection per thread: a Celery worker publishes with one
loopback round trip per event, whatever the number of readers.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from urllib.parse import quote, urlsplit

from django.conf import settings

from .frames import format_message

log = logging.getLogger(__name__)

HEARTBEAT_CHANNEL = "heartbeat.all"
"""Every Nchan reader also subscribes to this channel (a slug cannot contain
a dot), so one publish sends a heartbeat comment to every open stream."""

_local = threading.local()


def enabled() -> bool:
    return bool(getattr(settings, "LIVEBLOG_NCHAN_PUBLISH_URL", ""))


def frame(message: dict) -> bytes:
    """The SSE frame for one event, less the blank line Nchan's separator adds."""
    return f"retry: {settings.LIVEBLOG_SSE_RETRY_MS}\n".encode() + format_message(message)[:-1]


def publish(slug: str, message: dict) -> None:
    """Send one event to every Nchan reader of ``slug``; no-op when disabled.

    Raises :class:`OSError` if Nchan cannot be reached (after one retry on a
    fresh connection), so the caller's task retries; readers drop seqs they
    already have.
    """
    if enabled():
        post(slug, frame(message))


def heartbeat() -> None:
    post(HEARTBEAT_CHANNEL, b": heartbeat\n")


def post(channel: str, body: bytes) -> int:
    base = urlsplit(settings.LIVEBLOG_NCHAN_PUBLISH_URL)
    path = f"{base.path.rstrip('/')}/{quote(channel, safe='')}"
    for attempt in (1, 2):
        conn = _connection(base.hostname, base.port or 80)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "text/event-stream"})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            _local.conn = None
            if attempt == 2:
                raise
            continue
        if response.status >= 300:
            raise OSError(f"Nchan refused the publish to {channel}: HTTP {response.status}")
        return response.status
    raise AssertionError("unreachable")


def _connection(host: str, port: int) -> http.client.HTTPConnection:
    conn = getattr(_local, "conn", None)
    if conn is None or (conn.host, conn.port) != (host, port):
        conn = http.client.HTTPConnection(host, port, timeout=5)
        _local.conn = conn
    return conn


def reader_count(slug: str) -> int:
    """Readers Nchan holds for ``slug`` now (0 when Nchan is not used or
    cannot be asked: a count is informative, never fatal)."""
    if not enabled():
        return 0
    base = urlsplit(settings.LIVEBLOG_NCHAN_PUBLISH_URL)
    conn = _connection(base.hostname, base.port or 80)
    try:
        conn.request("GET", f"{base.path.rstrip('/')}/{quote(slug, safe='')}", headers={"Accept": "text/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return 0
        return int(json.loads(body).get("subscribers", 0))
    except (OSError, http.client.HTTPException, ValueError):
        conn.close()
        _local.conn = None
        return 0
