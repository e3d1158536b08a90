"""Fact checks: the newsroom's verdict scale and the rules for a fact check's
parts (docs/fact-checks.md).

An entry's fact check is stored on the entry itself (``Entry.claim`` …
``Entry.verdict``); :func:`clean_fact_check` turns what a writer sent into
those column values, or raises :class:`~posts.domain.errors.Invalid` naming
the part (``fact_check.verdict``).
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html

from .errors import Invalid
from .text import clean_text

MAX_CLAIM_CHARS = 1000
MAX_CLAIMANT_CHARS = 200
MAX_URL_CHARS = 500

PARTS = ("claim", "claimant", "claim_url", "claim_date", "verdict")
# The column values of an entry that is not a fact check.
NONE = {"claim": "", "claimant": "", "claim_url": "", "claim_date": None, "verdict": ""}

# Control characters other than tab and newline are dropped; NUL and lone
# surrogates are refused (they cannot be stored or sent as UTF-8).


def verdicts() -> tuple[str, ...]:
    """The newsroom's verdict labels, best first."""
    return tuple(settings.LIVEBLOG_FACT_CHECK_VERDICTS)


def rating(verdict: str) -> dict | None:
    """``ratingValue``/``bestRating``/``worstRating`` of ``verdict`` on the
    scale, counted from the worst label (1) to the best (``len``), or None
    for a label the newsroom has since removed from its scale."""
    scale = verdicts()
    if verdict not in scale:
        return None
    return {"ratingValue": len(scale) - scale.index(verdict), "bestRating": len(scale), "worstRating": 1}


def _text(value, part: str, *, limit: int, required: bool, one_line: bool) -> str:
    field = f"fact_check.{part}"
    if value is None:
        value = ""
    value = clean_text(value, field=field)  # the one text rule (posts/domain/text.py)
    if one_line:
        value = " ".join(value.split())
    value = value.strip()
    if required and not value:
        raise Invalid(f"A fact check needs its {part}.", field=field)
    if len(value) > limit:
        raise Invalid(f"{field} is {len(value):,} characters; the limit is {limit:,}.", field=field)
    return value


def _url(value) -> str:
    url = _text(value, "claim_url", limit=MAX_URL_CHARS, required=False, one_line=True)
    if not url:
        return ""
    try:
        parsed = urlparse(url)
        host = parsed.hostname
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 address)
        host = None
    if host is None or parsed.scheme not in {"http", "https"} or " " in url:
        raise Invalid("fact_check.claim_url must be an http(s) address.", field="fact_check.claim_url")
    return url


def _date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError as exc:
            raise Invalid("fact_check.claim_date is a date like 2026-11-25.", field="fact_check.claim_date") from exc
    if not isinstance(value, date):
        raise Invalid("fact_check.claim_date is a date like 2026-11-25.", field="fact_check.claim_date")
    # A day of slack: the claimant's "today" may be ahead of the server's.
    if value > timezone.now().date() + timedelta(days=1):
        raise Invalid("fact_check.claim_date is in the future.", field="fact_check.claim_date")
    return value


def clean_fact_check(fact_check: dict | None) -> dict:
    """The entry column values for ``fact_check`` (None: no fact check)."""
    if fact_check is None:
        return dict(NONE)
    if not isinstance(fact_check, dict):
        raise Invalid("fact_check is an object {claim, claimant, claim_url?, claim_date?, verdict} or null.",
                      field="fact_check")
    for key in fact_check:
        if key not in PARTS:
            raise Invalid(f"fact_check.{key} is not a part of a fact check.", field=f"fact_check.{key}")
    cleaned = {
        "claim": _text(fact_check.get("claim"), "claim", limit=MAX_CLAIM_CHARS, required=True, one_line=False),
        "claimant": _text(fact_check.get("claimant"), "claimant", limit=MAX_CLAIMANT_CHARS, required=True,
                          one_line=True),
        "claim_url": _url(fact_check.get("claim_url")),
        "claim_date": _date(fact_check.get("claim_date")),
        "verdict": fact_check.get("verdict"),
    }
    if cleaned["verdict"] not in verdicts():
        raise Invalid(
            f"fact_check.verdict must be one of: {', '.join(verdicts())}.", field="fact_check.verdict"
        )
    return cleaned


def summary_text(entry) -> str:
    """The fact check as one line of text (feeds), or "" when there is none:
    Fact check: “claim” (claimant, 2026-11-25, https://…). Verdict: False."""
    if not entry.verdict:
        return ""
    source = ", ".join(
        part for part in (entry.claimant, entry.claim_date.isoformat() if entry.claim_date else "", entry.claim_url)
        if part
    )
    claim = " ".join(entry.claim.split())
    return f"Fact check: “{claim}” ({source}). Verdict: {entry.verdict}."


def summary_html(entry) -> str:
    """:func:`summary_text` as an HTML paragraph (escaped), or ""."""
    if not entry.verdict:
        return ""
    source = format_html("{}", entry.claimant)
    if entry.claim_date:
        source = format_html("{}, {}", source, entry.claim_date.isoformat())
    if entry.claim_url:
        source = format_html('{}, <a href="{}">source</a>', source, entry.claim_url)
    return format_html(
        '<p class="fact-check">Fact check: “{}” ({}). Verdict: <strong>{}</strong>.</p>',
        " ".join(entry.claim.split()), source, entry.verdict,
    )
