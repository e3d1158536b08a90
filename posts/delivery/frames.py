"""An event as an SSE frame: the bytes every reader gets, from the app or Nchan."""

from __future__ import annotations

import orjson


def format_message(message: dict) -> bytes:
    return (
        f"id: {message['seq']}\nevent: {message['type']}\ndata: ".encode()
        + orjson.dumps(message)
        + b"\n\n"
    )


def format_live(message: dict) -> bytes:
    """A live-only message (``poll.updated``, ``readers.now``): no ``id:``, so
    a reader's resume point in the event log never moves."""
    return f"event: {message['type']}\ndata: ".encode() + orjson.dumps(message) + b"\n\n"
