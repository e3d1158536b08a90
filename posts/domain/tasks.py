"""Celery tasks that run domain services on a clock (beat)."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def publish_scheduled_task() -> int:
    """Publish scheduled entries whose time has come (exactly once each)."""
    from posts.domain import services  # HackSoft: the task imports the service in its body

    return services.publish_due_entries()


@shared_task(ignore_result=True)
def retention_task() -> dict:
    """Delete what is past its keep, in small batches (posts/domain/retention.py)."""
    from posts.domain import retention

    return retention.run()


@shared_task(ignore_result=True)
def flush_polls_task() -> int:
    """Write counted votes to the database, close polls whose time has come
    and hand the changed tallies to delivery (docs/polls.md)."""
    from posts.domain import services

    return len(services.polls_flush())
