"""``python -m deploy.heartbeat``: publish ``: heartbeat`` to Nchan's
``heartbeat.all`` channel every ``LIVEBLOG_SSE_HEARTBEAT_SECONDS`` (15 s), one
publish for every open stream. For real servers (deploy/systemd/); the
profile's own process does the same on loopback."""

from __future__ import annotations

import os
import sys
import time
import urllib.request


def main() -> int:
    base = os.environ.get("LIVEBLOG_NCHAN_PUBLISH_URL", "http://127.0.0.1:8081/pub").rstrip("/")
    interval = float(os.environ.get("LIVEBLOG_SSE_HEARTBEAT_SECONDS", "15"))
    request = urllib.request.Request(f"{base}/heartbeat.all", data=b": heartbeat\n")  # noqa: S310 - our own Nchan publisher on loopback
    while True:
        try:
            urllib.request.urlopen(request, timeout=5).read()  # noqa: S310 - as above
        except OSError as exc:  # nginx restarting: the next beat will do
            print(f"heartbeat: {exc}", file=sys.stderr, flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
