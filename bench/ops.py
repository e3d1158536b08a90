"""Operations figures for the bench (docs/operations.md), each printing one
JSON line; ``bench/runner.py`` runs both after the profile's phases.

- ``python -m bench.ops retention --deliveries N``: adds N webhook deliveries
  (two attempts each, four in five of them delivered ten days ago) on a blog
  of its own, then runs :func:`posts.domain.retention.run` as beat would and
  reports rows and bytes of each table before and after, and the longest
  batch (the longest any delete held its row locks).
- ``python -m bench.ops drill --database-url URL``: ``pg_dump -Fc`` of the
  bench database, ``pg_restore`` into a scratch database, and a check that
  the event log came back whole: every blog's seq 1..last_seq, counts equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

TABLES = ("posts_webhookattempt", "posts_webhookdelivery", "posts_pushsubscription", "django_session", "posts_event")
RETENTION_SLUG = "bench-retention"


def table_sizes() -> dict[str, dict[str, int]]:
    from django.db import connection

    sizes = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - table names are the constants above
            rows = cursor.fetchone()[0]
            size = 0
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_total_relation_size(%s)", [table])
                size = cursor.fetchone()[0]
            sizes[table] = {"rows": rows, "bytes": size}
    return sizes


def seed_old_deliveries(deliveries: int) -> None:
    """``deliveries`` rows over 100 inactive partners (so real events never
    reach them) and ``deliveries / 100`` events, with two attempts each."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from posts.domain import services
    from posts.domain.models import Blog, Event, Role, WebhookAttempt, WebhookDelivery, WebhookPartner

    Blog.objects.filter(slug=RETENTION_SLUG).delete()
    WebhookPartner.objects.filter(name__startswith="bench-retention-").delete()
    author = services.author_ensure(username="bench-editor", role=Role.EDITOR, display_name="Bench Editor")
    from posts.domain.services import outbox

    outbox.hand_off = lambda event_id: None
    blog = services.blog_create(user=author.user, title="Retention bench", slug=RETENTION_SLUG, status="live")
    partner_count = 100
    partners = WebhookPartner.objects.bulk_create(
        WebhookPartner(name=f"bench-retention-{i}", url=f"https://p{i}.example/hook", secret="whsec_x", active=False)  # noqa: S106 - inactive bench rows
        for i in range(partner_count)
    )
    event_count = max(1, deliveries // partner_count)
    now = timezone.now()
    with transaction.atomic():
        first = blog.last_seq + 1
        Event.objects.bulk_create(
            Event(blog=blog, seq=first + i, type="blog.updated", payload={}, created_at=now, fanned_out_at=now)
            for i in range(event_count)
        )
        Blog.objects.filter(pk=blog.pk).update(last_seq=first + event_count - 1, last_event_at=now)
    events = list(Event.objects.filter(blog=blog, seq__gte=first).order_by("seq"))
    n = 0
    for event in events:
        rows = []
        for partner in partners:
            old = n % 5 != 0
            when = now - (timedelta(days=10) if old else timedelta(days=1))
            rows.append(WebhookDelivery(
                partner=partner, event=event, msg_id=f"evt_{event.pk}_{partner.pk}", attempts=2,
                status=WebhookDelivery.Status.SUCCEEDED, delivered_at=when, created_at=when,
            ))
            n += 1
        created = WebhookDelivery.objects.bulk_create(rows)
        attempts = [WebhookAttempt(delivery=d, status_code=200, at=d.delivered_at) for d in created for _ in range(2)]
        WebhookAttempt.objects.bulk_create(attempts)
    # auto_now_add ignores the values given: set them as they would be.
    WebhookDelivery.objects.filter(event__blog=blog).update(created_at=F("delivered_at"))
    for delivered_at in WebhookDelivery.objects.filter(event__blog=blog).values_list("delivered_at", flat=True).distinct():
        WebhookAttempt.objects.filter(delivery__event__blog=blog, delivery__delivered_at=delivered_at).update(at=delivered_at)


def retention(deliveries: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")
    import django

    django.setup()
    from django.db import connection

    from posts.domain import retention as rules

    seed_old_deliveries(deliveries)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE posts_webhookattempt, posts_webhookdelivery")
    before = table_sizes()
    expired = rules.expired_counts()
    started = time.monotonic()
    report = rules.run()
    seconds = time.monotonic() - started
    after = table_sizes()
    return {"before": before, "after": after, "expired": expired, "deleted": report, "seconds": round(seconds, 2)}


# --- Backup and restore drill -----------------------------------------------------


def _with_db(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def _event_log(url: str) -> dict[int, tuple[int, int, int, int]]:
    """Per blog: (last_seq, events, min seq, max seq)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT b.id, b.last_seq, count(e.id), coalesce(min(e.seq), 0), coalesce(max(e.seq), 0) "
            "FROM posts_blog b LEFT JOIN posts_event e ON e.blog_id = b.id GROUP BY b.id, b.last_seq"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def drill(database_url: str, work_dir: Path) -> dict:
    import psycopg
    from psycopg import sql

    work_dir.mkdir(parents=True, exist_ok=True)
    dump = work_dir / "backup.dump"
    scratch = f"{urlsplit(database_url).path.lstrip('/')}_restore_drill"
    admin = _with_db(database_url, "postgres")
    started = time.monotonic()
    subprocess.run(["pg_dump", "-Fc", "--no-owner", "-f", str(dump), database_url], check=True, timeout=1800)
    dump_seconds = time.monotonic() - started
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    restore_url = _with_db(database_url, scratch)
    try:
        started = time.monotonic()
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-j", "2", "-d", restore_url, str(dump)],
            check=True, timeout=1800,
        )
        restore_seconds = time.monotonic() - started
        source, restored = _event_log(database_url), _event_log(restore_url)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
    problems = []
    for blog_id, (last_seq, count, low, high) in restored.items():
        if count != last_seq or (last_seq and (low, high) != (1, last_seq)):
            problems.append(f"blog {blog_id}: last_seq {last_seq}, {count} events, seq {low}..{high}")
    # The source may have moved on since the dump (a live database): compare
    # what the dump holds with the source up to each blog's restored last_seq.
    for blog_id, (last_seq, *_rest) in restored.items():
        if blog_id not in source or source[blog_id][0] < last_seq:
            problems.append(f"blog {blog_id}: restored last_seq {last_seq} is not in the source")
    return {
        "dump_bytes": dump.stat().st_size, "dump_seconds": round(dump_seconds, 2),
        "restore_seconds": round(restore_seconds, 2), "blogs": len(restored),
        "events": sum(v[1] for v in restored.values()), "source_blogs": len(source), "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    r = sub.add_parser("retention")
    r.add_argument("--deliveries", type=int, default=100_000)
    d = sub.add_parser("drill")
    d.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    d.add_argument("--work-dir", type=Path, default=Path(".run/bench"))
    args = parser.parse_args(argv)
    if args.what == "retention":
        result = retention(args.deliveries)
    else:
        result = drill(args.database_url, args.work_dir)
    print(json.dumps(result))
    return 1 if result.get("problems") else 0


if __name__ == "__main__":
    sys.exit(main())
