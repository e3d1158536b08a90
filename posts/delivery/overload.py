"""The operator's overload switch: store a blog's (or every blog's) push
mode and tell the readers streaming now (docs/overload.md).

:mod:`.pushmode` keeps the state and answers the pace; this module is the
action, used by ``manage.py push_mode`` and the admin.
"""

from __future__ import annotations

import logging

from posts.domain.models import Blog

from . import nchan, pushmode
from .frames import format_pace

log = logging.getLogger(__name__)


def readers_switch(*, mode: str | None, slug: str | None = None) -> list[str]:
    """Switch one blog (``slug``) or all to ``mode`` (``sse``, ``poll``, or
    None for the next level down) and send each affected live blog's
    streams a ``pace`` frame (Nchan's here; the app's own streams see the
    pace at their next heartbeat). Returns the slugs told. Raises
    ``OSError`` when the shared cache cannot keep the switch."""
    pushmode.switch(mode, slug=slug)
    live = Blog.objects.filter(status=Blog.Status.LIVE)
    slugs = list((live.filter(slug=slug) if slug else live).values_list("slug", flat=True))
    if nchan.enabled():
        for each in slugs:
            pace = pushmode.pace(each)
            frame = format_pace(push=pace.mode, poll_ms=pace.poll_ms, retry_ms=pace.retry_ms)
            try:
                nchan.post(each, frame[:-1])  # Nchan adds the blank line
            except OSError as exc:
                # Its readers still learn the pace from their next poll
                # (every reconnect asks /updates) or reconnect.
                log.warning("overload: could not tell Nchan's readers of %s: %s", each, exc)
    return slugs
