"""The event log's seq stays strictly increasing and gap-free under
concurrent writers (on PostgreSQL in CI's second pass, SQLite in the first)."""

import threading

from django.db import connection, connections

from posts.domain import services
from posts.domain.models import Event

from .factories import AuthorFactory, make_blog

THREADS = 8
PER_THREAD = 5


def test_seq_is_gap_free_when_eight_threads_publish_at_once(transactional_db):
    editor = AuthorFactory(role="editor").user
    blog = make_blog(editor=editor)
    reporters = [AuthorFactory(role="reporter").user for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def publish(user):
        try:
            barrier.wait()
            for n in range(PER_THREAD):
                services.entry_create(blog=blog, user=user, body=f"{user.username} #{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=publish, args=(u,)) for u in reporters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    seqs = list(Event.objects.filter(blog=blog).order_by("created_at", "id").values_list("seq", flat=True))
    total = 1 + THREADS * PER_THREAD
    assert sorted(seqs) == list(range(1, total + 1))
    # Committed in seq order: ids (insert order) and seqs agree.
    assert seqs == sorted(seqs)
    blog.refresh_from_db()
    assert blog.last_seq == total
    assert connection.vendor in {"postgresql", "sqlite"}
