"""Reader polls: the rules for a poll's parts and the vote counter.

Votes are counted without a row lock per vote (docs/polls.md). With
``REDIS_URL``: one Lua script per vote checks the per-address limit and the
closed flag and adds one to the poll's running totals (``HINCRBY``); the
flush copies those totals to ``PollOption.votes`` (never lowering them), so a
flush run twice or cut short loses and doubles nothing. Without Redis (the
embedded default): a vote is an inserted ``PollVote`` row, and the flush adds
them up and deletes them in one transaction. Either way the database holds
every flushed vote across restarts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from .errors import Invalid
from .models import Poll, PollOption, PollVote
from .text import clean_text

MIN_OPTIONS = 2
MAX_OPTIONS = 6
MAX_QUESTION_CHARS = 300
MAX_LABEL_CHARS = 200


@dataclass(frozen=True)
class PollParts:
    question: str
    labels: list[str]
    closes_at: datetime | None


def clean_poll(poll: dict) -> PollParts:
    """What a writer sent as ``{question, options: [label…], closes_at?}``,
    cleaned, or :class:`Invalid` naming the part (``poll.options``)."""
    if not isinstance(poll, dict):
        raise Invalid("poll is {question, options: [label…], closes_at?}.", field="poll")
    unknown = set(poll) - {"question", "options", "closes_at"}
    if unknown:
        raise Invalid(f"poll has no part {', '.join(sorted(unknown))}.", field="poll")
    question = " ".join(clean_text(poll.get("question") or "", field="poll.question").split())
    if not question:
        raise Invalid("A poll needs its question.", field="poll.question")
    if len(question) > MAX_QUESTION_CHARS:
        raise Invalid(f"The question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}.",
                      field="poll.question")
    options = poll.get("options")
    if not isinstance(options, list):
        raise Invalid("poll.options is a list of 2 to 6 labels.", field="poll.options")
    labels = [" ".join(clean_text(label, field="poll.options").split()) for label in options]
    labels = [label for label in labels if label]
    if not MIN_OPTIONS <= len(labels) <= MAX_OPTIONS:
        raise Invalid(f"A poll has {MIN_OPTIONS} to {MAX_OPTIONS} options; this one has {len(labels)}.",
                      field="poll.options")
    if any(len(label) > MAX_LABEL_CHARS for label in labels):
        raise Invalid(f"An option is over {MAX_LABEL_CHARS} characters.", field="poll.options")
    if len({label.casefold() for label in labels}) != len(labels):
        raise Invalid("Two options read the same; make each one different.", field="poll.options")
    closes_at = poll.get("closes_at")
    if isinstance(closes_at, str) and closes_at:
        from django.utils.dateparse import parse_datetime

        try:
            closes_at = parse_datetime(closes_at)
        except ValueError:
            closes_at = None
        if closes_at is None:
            raise Invalid("poll.closes_at is a date and time (e.g. 2026-11-25T18:00:00Z).", field="poll.closes_at")
    if closes_at in ("", None):
        closes_at = None
    elif not isinstance(closes_at, datetime):
        raise Invalid("poll.closes_at is a date and time.", field="poll.closes_at")
    elif timezone.is_naive(closes_at):
        raise Invalid("poll.closes_at needs a time zone (e.g. 2026-11-25T18:00:00Z).", field="poll.closes_at")
    elif closes_at <= timezone.now():
        raise Invalid("poll.closes_at is in the past.", field="poll.closes_at")
    return PollParts(question=question, labels=labels, closes_at=closes_at)


# --- Counting ----------------------------------------------------------------------


class Refused(Exception):
    """A vote not counted: ``"closed"`` or ``"limited"``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# KEYS: totals hash, closed flag, rate key, dirty set. ARGV: option id, limit, window s, poll id.
# The totals hash missing means Redis lost it (or it is the poll's first
# vote): answer "seed" and the caller seeds it from the database first.
_VOTE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 'closed' end
local n = redis.call('INCR', KEYS[3])
if n == 1 then redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3])) end
if n > tonumber(ARGV[2]) then return 'limited' end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DECR', KEYS[3])
  return 'seed'
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[4], ARGV[4])
return redis.call('HGETALL', KEYS[1])
"""
# KEYS: dirty set, set being flushed. Polls voted on since the last flush;
# a flush cut short leaves its set behind and the next one takes it too.
_TAKE_DIRTY = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[1], KEYS[2])
  redis.call('DEL', KEYS[1])
end
return redis.call('SMEMBERS', KEYS[2])
"""

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def redis_client():
    """This process's client for the counters (None without ``REDIS_URL``)."""
    url = settings.REDIS_URL
    if not url:
        return None
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
            client._lb_vote = client.register_script(_VOTE)
            client._lb_take = client.register_script(_TAKE_DIRTY)
            _clients[url] = client
        return client


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'lb'}:poll"


def totals_key(poll_id: int) -> str:
    return f"{_prefix()}:{poll_id}:votes"


def closed_key(poll_id: int) -> str:
    return f"{_prefix()}:{poll_id}:closed"


def _dirty_keys() -> tuple[str, str]:
    return f"{_prefix()}s:dirty", f"{_prefix()}s:flushing"


# A closed poll's flag outlives any vote in flight by far; after it expires
# the poll's closed_at (read with the poll) refuses votes.
CLOSED_FLAG_SECONDS = 7 * 86400
TOTALS_SECONDS = 30 * 86400


def count_vote(*, poll_id: int, option_id: int, address: str, may_query: bool = True) -> dict[int, int] | None:
    """Count one vote, or raise :class:`Refused`; the running totals with it
    (Redis, in the same round trip), or None (the table: ask
    :func:`running_totals`). The caller checked that the poll is open and
    the option is the poll's. ``may_query=False`` (async callers): a poll
    whose totals need seeding from the database is :class:`Refused` ``"seed"``,
    uncounted, for a caller that may query to count."""
    limit = settings.LIVEBLOG_POLL_VOTES_PER_ADDRESS
    window = settings.LIVEBLOG_POLL_RATE_WINDOW_SECONDS
    rate_key = f"{_prefix()}:{poll_id}:rate:{address}"
    client = redis_client()
    if client is None:
        _count_in_table(poll_id=poll_id, option_id=option_id, rate_key=rate_key, limit=limit, window=window)
        return None
    keys = [totals_key(poll_id), closed_key(poll_id), rate_key, _dirty_keys()[0]]
    args = [option_id, limit, int(window), poll_id]
    answer = client._lb_vote(keys=keys, args=args)
    if answer == b"seed":
        if not may_query:
            raise Refused("seed")
        _seed(client, poll_id)
        answer = client._lb_vote(keys=keys, args=args)
    if isinstance(answer, bytes):
        raise Refused(answer.decode())
    return {int(k): int(v) for k, v in zip(answer[::2], answer[1::2], strict=True)}


def _seed(client, poll_id: int) -> None:
    """Start the running totals from the database's (a lost Redis, or the
    poll's first vote). HSETNX: two processes seeding at once agree."""
    pipe = client.pipeline(transaction=True)
    for option_id, votes in PollOption.objects.filter(poll_id=poll_id).values_list("pk", "votes"):
        pipe.hsetnx(totals_key(poll_id), option_id, votes)
    pipe.expire(totals_key(poll_id), TOTALS_SECONDS)
    pipe.execute()


def _count_in_table(*, poll_id: int, option_id: int, rate_key: str, limit: int, window: float) -> None:
    # Per process without Redis (the embedded default is one process).
    if cache.add(rate_key, 1, timeout=window):
        used = 1
    else:
        try:
            used = cache.incr(rate_key)
        except ValueError:  # expired between add and incr
            cache.add(rate_key, 1, timeout=window)
            used = 1
    if used > limit:
        raise Refused("limited")
    PollVote.objects.create(poll_id=poll_id, option_id=option_id)


def running_totals(poll: Poll) -> dict[int, int]:
    """Votes per option id as counted now: flushed, plus any not flushed yet."""
    flushed = {o.pk: o.votes for o in poll.options.all()}
    if poll.closed_at is not None:
        return flushed  # frozen at the close
    client = redis_client()
    if client is None:
        pending = (
            PollVote.objects.filter(poll_id=poll.pk).values("option_id").annotate(n=Count("id"))
            .values_list("option_id", "n")
        )
        for option_id, n in pending:
            flushed[option_id] = flushed.get(option_id, 0) + n
        return flushed
    try:
        live = client.hgetall(totals_key(poll.pk))
    except OSError:
        return flushed
    for option_id, votes in live.items():
        option_id = int(option_id)
        if option_id in flushed:
            flushed[option_id] = max(flushed[option_id], int(votes))
    return flushed


def take_dirty_polls() -> list[int]:
    """Polls voted on since the last flush (Redis), or with uncounted rows."""
    client = redis_client()
    if client is None:
        return list(PollVote.objects.values_list("poll_id", flat=True).distinct())
    dirty, flushing = _dirty_keys()
    return sorted(int(p) for p in client._lb_take(keys=[dirty, flushing]))


def done_with_dirty() -> None:
    """The polls :func:`take_dirty_polls` gave are in the database."""
    client = redis_client()
    if client is not None:
        client.delete(_dirty_keys()[1])


def flush_poll(poll: Poll, *, until: datetime | None = None) -> bool:
    """Write the poll's counted votes to ``PollOption.votes`` (call in a
    transaction); True if a number moved. ``until``: rows after it (votes
    that raced a close) are dropped, not counted."""
    changed = False
    client = redis_client()
    if client is None:
        rows = PollVote.objects.filter(poll_id=poll.pk)
        if until is not None:
            rows.filter(created_at__gt=until).delete()
        last = rows.order_by("-pk").values_list("pk", flat=True).first()
        if last is None:
            return False
        taken = rows.filter(pk__lte=last)
        counts = dict(taken.values("option_id").annotate(n=Count("id")).values_list("option_id", "n"))
        for option_id, n in counts.items():
            PollOption.objects.filter(pk=option_id, poll_id=poll.pk).update(votes=F("votes") + n)
        taken.delete()
        return True
    live = client.hgetall(totals_key(poll.pk))
    for option_id, votes in live.items():
        updated = PollOption.objects.filter(pk=int(option_id), poll_id=poll.pk, votes__lt=int(votes)).update(
            votes=int(votes)
        )
        changed |= bool(updated)
    if live:
        client.expire(totals_key(poll.pk), TOTALS_SECONDS)
    return changed


def freeze(poll: Poll) -> None:
    """Refuse every vote from now on (before the close's final flush)."""
    client = redis_client()
    if client is not None:
        client.set(closed_key(poll.pk), 1, ex=CLOSED_FLAG_SECONDS)


def unfreeze_after_rollback(poll_id: int) -> None:
    """A close that rolled back leaves the poll open again."""
    client = redis_client()
    if client is not None:
        client.delete(closed_key(poll_id))


# --- Open polls' metadata, per process -----------------------------------------------

# The vote path reads a poll's blog, options and times from here, not the
# database: 2,000 votes/s cost ~1 query a second per poll and process.
# A close is enforced at once by the Redis flag (or the row's time), so a
# second's staleness only delays a new poll's or a deletion's effect.
META_SECONDS = 1.0


@dataclass(frozen=True)
class PollMeta:
    poll_id: int
    slug: str
    entry_id: int
    option_ids: tuple[int, ...]
    closes_at: datetime | None
    closed: bool
    public: bool
    question: str = ""
    labels: tuple[str, ...] = ()


_meta: dict[int, tuple[float, PollMeta | None]] = {}


def poll_meta(poll_id: int) -> PollMeta | None:
    now = time.monotonic()
    held = _meta.get(poll_id)
    if held is not None and now - held[0] < META_SECONDS:
        return held[1]
    poll = Poll.objects.select_related("entry__blog").filter(pk=poll_id).first()
    meta = None
    if poll is not None:
        entry = poll.entry
        options = list(poll.options.values_list("pk", "label"))
        meta = PollMeta(
            poll_id=poll.pk,
            slug=entry.blog.slug,
            entry_id=entry.pk,
            option_ids=tuple(pk for pk, _ in options),
            question=poll.question,
            labels=tuple(label for _, label in options),
            closes_at=poll.closes_at,
            closed=poll.closed_at is not None or entry.blog.is_closed,
            public=entry.is_published and entry.blog.status != entry.blog.Status.DRAFT,
        )
    if len(_meta) > 10000:
        _meta.clear()
    _meta[poll_id] = (now, meta)
    return meta


def cached_meta(poll_id: int) -> PollMeta | None:
    """The poll's metadata if this process holds it fresh (no query), else None."""
    held = _meta.get(poll_id)
    if held is not None and held[1] is not None and time.monotonic() - held[0] < META_SECONDS:
        return held[1]
    return None


def forget_meta(poll_id: int) -> None:
    _meta.pop(poll_id, None)
    transaction.on_commit(lambda: _meta.pop(poll_id, None))
