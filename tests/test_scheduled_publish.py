"""Scheduled entries go live on time, once, even with two beats and workers."""

from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone

from posts.domain import services
from posts.domain.models import Entry, Event
from tests.factories import make_blog, make_entry

from .fanout_support import celery_worker, purge_test_broker, real_broker, wait_until


def _ready(worker) -> bool:
    return b" ready." in worker.log_path.read_bytes()


def test_two_beat_and_worker_processes_publish_each_scheduled_entry_once_on_time(transactional_db, editor, reporter):
    purge_test_broker()
    blog = make_blog(editor=editor)
    try:
        with real_broker(), celery_worker("beat-a") as a, celery_worker("beat-b") as b:
            assert wait_until(lambda: _ready(a) and _ready(b), timeout=20), a.log_path.read_text()[-2000:]
            due = timezone.now() + timedelta(seconds=2)
            entries = [
                make_entry(
                    blog=blog, user=reporter, body=f"Scheduled {n}", status="scheduled",
                    publish_at=due + timedelta(milliseconds=300 * n),
                )
                for n in range(3)
            ]
            assert Event.objects.filter(type="entry.published").count() == 0
            assert wait_until(
                lambda: Entry.objects.filter(status="published").count() == 3, timeout=20
            ), b.log_path.read_text()[-2000:]
            time.sleep(1.5)  # both beats have fired again since
    finally:
        purge_test_broker()

    for entry in entries:
        entry.refresh_from_db()
        published = Event.objects.filter(type="entry.published", payload__entry__id=entry.pk)
        assert published.count() == 1, f"entry {entry.pk} published {published.count()} times"
        assert entry.version == 2 and entry.revisions.count() == 2
    for entry, n in zip(entries, range(3), strict=True):
        scheduled_for = due + timedelta(milliseconds=300 * n)
        late = (entry.published_at - scheduled_for).total_seconds()
        assert 0 <= late < 3.5, f"entry {entry.pk} went live {late:.1f}s after its time"


def test_publish_due_entries_skips_entries_not_yet_due_and_closed_blogs(db, editor, reporter):
    blog = make_blog(editor=editor)
    soon = make_entry(blog=blog, user=reporter, status="scheduled", publish_at=timezone.now() + timedelta(seconds=30))
    assert services.publish_due_entries() == 0
    assert services.publish_due_entries(now=timezone.now() + timedelta(seconds=31)) == 1
    assert services.publish_due_entries(now=timezone.now() + timedelta(seconds=31)) == 0
    soon.refresh_from_db()
    assert soon.status == "published"

    later = make_entry(blog=blog, user=reporter, status="scheduled", publish_at=timezone.now() + timedelta(seconds=30))
    services.blog_close(blog=blog, user=editor, body="Closed early.")
    assert services.publish_due_entries(now=timezone.now() + timedelta(seconds=31)) == 0
    later.refresh_from_db()
    assert later.status == "scheduled"
