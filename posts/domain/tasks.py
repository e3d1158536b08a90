"""Celery tasks that run domain services on a clock (beat)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def publish_scheduled_task() -> int:
    """Open scheduled blogs, then publish scheduled entries, whose time has
    come (exactly once each); returns how many in all."""
    from posts.domain import services  # HackSoft: the task imports the service in its body

    return services.open_due_blogs() + services.publish_due_entries()


@shared_task(ignore_result=True)
def retention_task() -> dict:
    """Delete what is past its keep, in small batches (posts/domain/retention.py)."""
    from posts.domain import retention

    return retention.run()


@shared_task(name="posts.domain.tasks.store_embeds_task", ignore_result=True)
def store_embeds_task(entry_id: int, previews: list[dict]) -> None:
    """Store what delivery's capture_embeds_task found (docs/embeds.md)."""
    from posts.domain import services

    services.entry_embeds_capture(entry_id=entry_id, previews=previews)


@shared_task(name="posts.domain.tasks.media_renditions_task", acks_late=True, ignore_result=True)
def media_renditions_task(media_id: int) -> None:
    """Make a photo's renditions (idempotent: a photo that has them is skipped)."""
    from posts.domain import services

    services.media_make_renditions(media_id=media_id)


@shared_task(ignore_result=True)
def flush_polls_task() -> int:
    """Write counted votes to the database, close polls whose time has come
    and hand the changed tallies to delivery (docs/polls.md)."""
    from posts.domain import services

    return len(services.polls_flush())
