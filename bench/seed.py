"""Seed the benchmark's database, through the services like any newsroom.

``python -m bench.seed --sizes 50 5000 --partners 1000 --partner-port 21000``
(with ``DATABASE_URL``/``REDIS_URL`` pointing at the bench's own database)
prints one JSON line: a fresh API token, each blog's slug and latest seq, and
the webhook partners' URLs and secrets.

- ``bench-<n>``: a live blog of ``n`` published entries (Markdown with a link,
  a list and emphasis, ten key events spread over the blog, one pinned summary), for the
  page, ``/updates`` and feed measurements. Kept between runs: a blog that
  already has its ``n`` entries is not seeded again, so a second run starts in
  seconds.
- ``bench-<n>`` also holds :data:`QUEUE` contributor drafts awaiting an
  editor's approval (the desk's page for an editor is measured with them).
- ``bench-live``: where the SSE and publish-API phases post.
- ``bench-hooks``: the only blog the webhook partners follow; its partners
  are replaced on every run (a secret is shown once, at creation).

While seeding, the hand-off to the fan-out is switched off (nobody is
listening yet, and 5,000 queued fan-outs would run during the measurements);
every seeded event is then confirmed through
:func:`posts.delivery.records.event_mark_fanned_out`, so the sweep finds nothing to
re-send.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")
    import django

    django.setup()


BODY = (
    "Update {i}: the count in ward {ward} is **{pct}% done**. Turnout there is "
    "[higher than in 2022](https://example.org/results/{ward}), officials say.\n\n"
    "- Ballot boxes sealed: {boxes}\n- Recounts requested: {recounts}\n\n"
    "> We will not call this ward before midnight, said the returning officer."
)


KEY_EVENTS = 10
QUEUE = 20


def _is_key(i: int, size: int) -> bool:
    """The same number of key events (10) in every blog, spread over it: the
    page lists them all, so this keeps the 50- and 5,000-entry blogs equal in
    everything but length, which is what the comparison is about."""
    return i % max(1, size // KEY_EVENTS) == 0


def seed_blog(*, user, slug: str, size: int, queue: int = 0) -> dict:
    from posts.domain import services
    from posts.domain.models import Blog, Entry

    blog = Blog.objects.filter(slug=slug).first()
    if blog is None:
        blog = services.blog_create(
            user=user, title=f"Benchmark blog ({size:,} entries)", slug=slug, status=Blog.Status.LIVE,
            standfirst="A blog seeded by `bench/seed.py` for the production benchmark.",
        )
    have = Entry.objects.filter(blog=blog, status=Entry.Status.PUBLISHED).count()
    for i in range(have, size):
        services.entry_create(
            blog=blog, user=user, headline=f"Ward {i % 97} update" if i % 3 == 0 else "",
            body=BODY.format(i=i, ward=i % 97, pct=(i * 7) % 100, boxes=i % 40, recounts=i % 3),
            key_event=_is_key(i, size), kind="summary" if i == 0 else "update", pinned=(i == 0),
        )
    # Blogs seeded by an older version of this script may flag other entries.
    entries = Entry.objects.filter(blog=blog, status=Entry.Status.PUBLISHED).order_by("id")
    for i, entry in enumerate(entries):
        if entry.key_event != _is_key(i, size):
            services.entry_set_key_event(entry=entry, user=user, key_event=_is_key(i, size))
    if queue:
        seed_queue(user=user, blog=blog, count=queue)
    blog.refresh_from_db()
    # An entry half-way down the blog: its permalink is measured.
    middle = entries.values_list("pk", flat=True)[size // 2] if size else None
    return {"slug": slug, "seq": blog.last_seq, "entries": size, "middle": middle}


def seed_queue(*, user, blog, count: int) -> None:
    """``count`` drafts by a contributor, submitted for approval."""
    from posts.domain import services
    from posts.domain.models import Entry, Role

    contributor = services.author_ensure(username="bench-contributor", role=Role.CONTRIBUTOR,
                                         display_name="Bench Contributor").user
    services.team_set_member(blog=blog, user=user, member=contributor, role=Role.CONTRIBUTOR)
    have = blog.entries.filter(status=Entry.Status.DRAFT, awaiting_approval=True).count()
    for i in range(have, count):
        services.entry_create(
            blog=blog, user=contributor, headline=f"Draft {i} for approval", status=Entry.Status.DRAFT,
            body=BODY.format(i=i, ward=i % 97, pct=(i * 7) % 100, boxes=i % 40, recounts=i % 3), submit=True,
        )


def seed_partners(*, user, blog, count: int, port: int, host: str) -> list[dict]:
    from posts.domain import services
    from posts.domain.models import WebhookPartner

    for partner in WebhookPartner.objects.filter(name__startswith="bench-partner-"):
        services.webhook_partner_delete(partner=partner, user=user)
    partners = []
    for i in range(count):
        url = f"http://{host}:{port + i}/hook/{i}"
        partner, secret = services.webhook_partner_create(
            user=user, url=url, blogs=[blog], name=f"bench-partner-{i}",
        )
        partners.append({"id": partner.pk, "url": url, "secret": secret})
    return partners


def confirm_seeded_events() -> int:
    from posts.delivery import records
    from posts.domain.models import Event

    ids = list(Event.objects.filter(fanned_out_at__isnull=True).values_list("pk", flat=True))
    for event_id in ids:
        records.event_mark_fanned_out(event_id=event_id)
    return len(ids)


def _analyze() -> None:
    """Planner statistics for the rows just written, as a production
    database has them (autovacuum's ANALYZE would come later): without them
    PostgreSQL takes a 5,000-entry blog for one row when it plans. Not on
    SQLite: nothing runs ANALYZE on the embedded default's database either."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Seed the benchmark database.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 5000])
    parser.add_argument("--partners", type=int, default=0)
    parser.add_argument("--partner-port", type=int, default=21000)
    parser.add_argument("--partner-host", default="127.0.0.1")
    args = parser.parse_args(argv)
    _setup()

    from posts.domain import services
    from posts.domain.models import Blog, Role
    from posts.domain.services import outbox

    outbox.hand_off = lambda event_id: None

    author = services.author_ensure(username="bench-editor", role=Role.EDITOR, display_name="Bench Editor")
    user = author.user
    blogs = [seed_blog(user=user, slug=f"bench-{n}", size=n, queue=QUEUE) for n in args.sizes]
    live = seed_blog(user=user, slug="bench-live", size=1)
    hooks = seed_blog(user=user, slug="bench-hooks", size=1)
    partners = seed_partners(
        user=user, blog=Blog.objects.get(slug="bench-hooks"), count=args.partners,
        port=args.partner_port, host=args.partner_host,
    )
    confirmed = confirm_seeded_events()
    _, token = services.token_create(user=user, name="bench")
    _analyze()
    json.dump(
        {"token": token, "blogs": blogs, "live": live, "hooks": hooks, "partners": partners, "confirmed": confirmed},
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
