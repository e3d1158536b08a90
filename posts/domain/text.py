"""The text rule of every service: what any text field may hold, so that
nothing stored can break a page, a feed (XML 1.0), the API or a database.

C0/C1 control characters other than tab, newline and carriage return, and
Unicode non-characters, are stripped; NUL and unpaired surrogates (which
PostgreSQL, UTF-8 and XML cannot hold) are refused naming the field.
See docs/input.md.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import Invalid

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
# C0 but \t \n \r, DEL and C1, non-characters.
_STRIPPED = re.compile(f"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_NONCHARACTERS}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSAFE = re.compile(f"[\x00\ud800-\udfff\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_NONCHARACTERS}]")


def clean_text(value: Any, *, field: str) -> str:
    """``value`` with stripped characters removed; :class:`Invalid` (422,
    naming ``field``) for a non-string, a NUL or an unpaired surrogate."""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text.", field=field)
    if "\x00" in value:
        raise Invalid(f"{field} contains a NUL character (U+0000); remove it and send again.", field=field)
    if _SURROGATE.search(value):
        raise Invalid(
            f"{field} contains an unpaired UTF-16 surrogate, which is not text; send valid Unicode.",
            field=field,
        )
    return _STRIPPED.sub("", value)


def find_unstorable(data: Any, path: str = "") -> tuple[str, str] | None:
    """The first ``(field path, problem)`` in parsed JSON whose strings (keys
    included) hold a NUL or an unpaired surrogate, else None."""
    if isinstance(data, str):
        if "\x00" in data:
            return path, "a NUL character (U+0000)"
        if _SURROGATE.search(data):
            return path, "an unpaired UTF-16 surrogate"
        return None
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return None
    for key, value in items:
        here = f"{path}.{key}" if path else str(key)
        found = find_unstorable(key, here) or find_unstorable(value, here)
        if found is not None:
            return found
    return None


def scrub(value: str) -> str:
    """Every character :func:`clean_text` strips or refuses, removed: for
    text already stored (the data migration) and output that did not pass a
    service (a user's name edited in Django's own admin)."""
    return _UNSAFE.sub("", value) if value else value


def scrub_json(data: Any) -> Any:
    """:func:`scrub` applied to every string of a JSON value."""
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {scrub(k): scrub_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [scrub_json(v) for v in data]
    return data
