"""Entry fragments: each published entry's public renderings (its article
HTML and JSON-LD, its RSS, Atom and JSON Feed items, its API shape) made once
per entry version and kept in the cache, so a page or feed missed after a
write is a join of fragments and only the entry the write touched is
rendered again. Why and what it saves: docs/performance.md, bench/PROFILING.md.

A fragment is found only for the entry version, blog and code it was made
from (:func:`fingerprint`); a taken-down entry is never selected, and its
fragments are deleted by the fan-out of its ``entry.deleted``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.crypto import salted_hmac
from django.utils.safestring import SafeString, mark_safe

from posts.delivery.cache import cache_get, cache_get_many, cache_set, cache_set_many, fragment_key
from posts.domain import selectors
from posts.domain.models import Entry

# Long enough to outlive a busy day of edits; a fragment is only ever found
# for the entry version it was made from, so an old one is just unreachable.
FRAGMENT_TTL = 24 * 3600

_POSTS = Path(__file__).resolve().parents[1]


@functools.cache
def code_digest() -> str:
    """What every fragment was made with: the templates, the ``posts``
    code and the ``LIVEBLOG_*`` settings (site URL, fact-check labels...).
    Read once per process; any deploy that changes one of them makes every
    fragment again, so no one has to remember to bump a version."""
    digest = hashlib.blake2b(digest_size=8)
    dirs = [Path(d) for t in settings.TEMPLATES for d in t.get("DIRS", [])]
    for path in sorted(p for d in [*dirs, _POSTS] for p in d.rglob("*") if p.suffix in {".html", ".py", ".xml"}):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    for name in sorted(n for n in dir(settings) if n.startswith("LIVEBLOG_")):
        digest.update(f"{name}={getattr(settings, name)!r}".encode())
    return digest.hexdigest()


def fingerprint(entry: Entry) -> str:
    """Changes whenever the entry is saved (every change a reader can see
    bumps its ``version``), when its blog's slug or language changes, and on
    any deploy of new code or templates."""
    blog = entry.blog
    return f"{code_digest()}.{entry.version}.{entry.modified_at.timestamp()}.{blog.slug}.{blog.language}"


def entry_fragments(
    kind: str, entries: list[Entry], build: Callable[[Entry], Any], *, vary: Callable[[Entry], str] | None = None
) -> list[Any]:
    """The ``kind`` fragment of each of ``entries``, in order: from the cache
    when it was made for this version of the entry, else made by
    ``build(entry)`` and stored. ``entries`` may be read ``light``
    (selectors.LIGHT_FIELDS): those to be made are read in full, with their
    bylines, in two queries whatever their number. One cache round trip to
    read, one to store. ``vary(entry)`` adds to the fingerprint what else the
    fragment depends on."""

    def print_of(entry: Entry) -> str:
        return fingerprint(entry) + (f".{vary(entry)}" if vary is not None else "")

    keys = [fragment_key(kind, e.pk) for e in entries]
    found = cache_get_many(keys) if entries else {}
    out: list[Any] = []
    missing: dict[str, tuple[str, Entry]] = {}
    for key, entry in zip(keys, entries, strict=True):
        held, print_ = found.get(key), print_of(entry)
        if held is not None and held[0] == print_:
            out.append(held[1])
        else:
            out.append(None)
            missing[key] = (print_, entry)
    if missing:
        full = selectors.entries_in_full([entry for _, entry in missing.values()])
        made = {}
        for key, (_, entry) in missing.items():
            entry = full.get(entry.pk, entry)
            made[key] = (print_of(entry), build(entry))
        cache_set_many(made, timeout=FRAGMENT_TTL)
        out = [made[key][1] if value is None else value for key, value in zip(keys, out, strict=True)]
    return out


# --- The reader pages: article HTML and JSON-LD -------------------------------------


def entry_html(entry: Entry, *, highlight: bool = False) -> SafeString:
    """The entry's ``<article>`` from posts/_entry.html, the one entry
    template of the reader pages (whatever it grows, fragments carry)."""
    return render_to_string("posts/_entry.html", {"entry": entry, "highlight": highlight})


def page_fragment(entry: Entry) -> dict:
    from posts.web.structured_data import entry_ld

    return {"html": entry_html(entry), **entry_ld(entry)}


def page_fragments(entries: list[Entry]) -> dict[int, dict]:
    """Each entry's article HTML and JSON-LD parts, by entry id; the HTML is
    also set on the entry as ``public_html`` for the templates."""
    unique = list({e.pk: e for e in entries}.values())
    made = dict(zip([e.pk for e in unique], entry_fragments("page", unique, page_fragment), strict=True))
    for entry in entries:
        entry.public_html = made[entry.pk]["html"]
    return made


def permalink_fragment(entry: Entry) -> dict:
    """What the permalink page shows of its own entry: the ``<article>``
    highlighted, the values of its head (title, sharing card, oEmbed link)
    and its JSON-LD blocks, made once per entry version, so the page reads
    its entry ``light`` like the others. The JSON-LD names the blog's title,
    so it is part of the fingerprint."""
    from django.utils.text import Truncator

    from posts.templatetags.live_tags import share_image, share_image_alt
    from posts.web.structured_data import permalink_blocks

    def build(entry: Entry) -> dict:
        return {
            "html": entry_html(entry, highlight=True),
            "headline": entry.headline,
            "description": Truncator(entry.body_text).chars(200),
            "image": share_image(entry),
            "image_alt": share_image_alt(entry),
            "summary": entry.summary_text,
            "jsonld": permalink_blocks(entry),
        }

    return entry_fragments("permalink", [entry], build, vary=lambda e: e.blog.title)[0]


# --- The desk: its cards and its composer ------------------------------------------

def _placeholder(name: str) -> str:
    """A stand-in for a per-read value in a cached fragment: the same in
    every process sharing the cache (one drawn per process left another's in
    the page: a dead CSRF token, one Idempotency-Key for every composer), and
    no entry text can spell it without the SECRET_KEY."""
    return f"{name}-{salted_hmac('liveblog.fragments.placeholder', name).hexdigest()[:24]}"


# Stands for the viewer's CSRF token in a cached card.
_CSRF_PLACEHOLDER = _placeholder("csrf")


def desk_cards(request, entries: list[Entry], *, blog) -> None:
    """Set ``desk_html`` on each entry (decorated with its ``desk``
    actions): its desk card, made once per entry version and set of
    actions, the viewer's CSRF token put in at the end. 84 % of the desk's
    page was rendering its cards (bench/PROFILING.md). ``entries`` may be
    read light (selectors.DESK_LIGHT_FIELDS). Drafts' and scheduled
    entries' cards are kept too: taking one down makes no reader event, so
    the takedown hands off forgetting its card itself
    (services.outbox.hand_off_forget)."""
    from django.middleware.csrf import get_token

    actions = {entry.pk: entry.desk for entry in entries}

    def build(entry: Entry) -> str:
        entry.desk = actions[entry.pk]  # ``entry`` may be the light one read again in full
        return render_to_string(
            "desk/_entry.html", {"entry": entry, "blog": blog, "csrf_token": _CSRF_PLACEHOLDER}
        )

    def vary(entry: Entry) -> str:
        return repr(sorted(vars(actions[entry.pk]).items()))

    token = get_token(request)
    for entry, card in zip(entries, entry_fragments("desk", entries, build, vary=vary), strict=True):
        entry.desk_html = mark_safe(card.replace(_CSRF_PLACEHOLDER, token))  # noqa: S308 - our template, our token


# Stands for the fresh Idempotency-Key each rendering of the composer carries.
_IDEMPOTENCY_PLACEHOLDER = _placeholder("idem")
_IDEMPOTENCY_VALUE = re.compile(r'(name="idempotency_key" value=")([^"]+)(")')


def desk_composer(request, composer, *, blog, can_publish: bool, max_body: int) -> SafeString:
    """The desk's composer for a new entry (no input, no errors), made once
    per blog, viewer, role and byline choices; the viewer's CSRF token and a
    fresh Idempotency-Key put in at the end. Its two dozen form widgets were
    a third of rendering the desk (bench/PROFILING.md)."""
    from django.middleware.csrf import get_token

    print_ = repr((
        code_digest(), blog.slug, blog.status, can_publish, max_body,
        composer.initial.get("authors"), list(composer.fields["authors"].choices),
    ))
    key = f"frag:composer:{blog.pk}:{request.user.pk}"
    held = cache_get(key)
    if held is not None and held[0] == print_:
        html = held[1]
    else:
        html = render_to_string("desk/_composer.html", {
            "composer": composer, "blog": blog, "can_publish": can_publish, "max_body": max_body,
            "csrf_token": _CSRF_PLACEHOLDER,
        })
        html = _IDEMPOTENCY_VALUE.sub(rf"\g<1>{_IDEMPOTENCY_PLACEHOLDER}\g<3>", html)
        cache_set(key, (print_, html), timeout=FRAGMENT_TTL)
    html = html.replace(_CSRF_PLACEHOLDER, get_token(request))
    return mark_safe(html.replace(_IDEMPOTENCY_PLACEHOLDER, secrets.token_urlsafe(18)))  # noqa: S308 - our template

