"""Language tags (BCP 47, RFC 5646) for a blog's ``language``.

Well-formedness only, with the RFC's case conventions (``en-GB``,
``zh-Hant-TW``); whether a subtag is registered is not checked.
"""

from __future__ import annotations

import re

MAX_TAG_CHARS = 35  # RFC 5646 4.4.1: the minimum length to support

_TAG = re.compile(
    r"(?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4,8})"
    r"(?:-(?P<script>[a-z]{4}))?"
    r"(?:-(?P<region>[a-z]{2}|\d{3}))?"
    r"(?P<rest>(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*"  # variants
    r"(?:-[a-wyz\d](?:-[a-z\d]{2,8})+)*"  # extensions
    r"(?:-x(?:-[a-z\d]{1,8})+)?)",  # private use
    re.IGNORECASE,
)


def normalize_language_tag(tag: str) -> str:
    """``tag`` in its conventional case, or ValueError if it is not a
    well-formed language tag."""
    match = _TAG.fullmatch(tag or "") if len(tag or "") <= MAX_TAG_CHARS else None
    if match is None:
        raise ValueError(f"'{(tag or '')[:40]}' is not a language tag (e.g. 'en', 'en-GB', 'pt-BR').")
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts) + match["rest"].lower()
