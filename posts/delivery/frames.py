"""An event as an SSE frame: the bytes every reader gets, from the app or Nchan."""

from __future__ import annotations

import orjson


def format_message(message: dict) -> bytes:
    return (
        f"id: {message['seq']}\nevent: {message['type']}\ndata: ".encode()
        + orjson.dumps(message)
        + b"\n\n"
    )


def format_pace(*, push: str, poll_ms: int, retry_ms: int) -> bytes:
    """The overload switch's frame (no id: a reader's resume point stays its
    last seq): ``retry:`` for the reconnect delay, ``event: pace`` for the
    page's script, which polls instead of streaming when ``push`` is poll."""
    data = orjson.dumps({"push": push, "poll_ms": poll_ms})
    return f"retry: {retry_ms}\nevent: pace\ndata: ".encode() + data + b"\n\n"


def format_live(message: dict) -> bytes:
    """A live-only message (``poll.updated``, ``readers.now``): no ``id:``, so
    a reader's resume point in the event log never moves."""
    return f"event: {message['type']}\ndata: ".encode() + orjson.dumps(message) + b"\n\n"
