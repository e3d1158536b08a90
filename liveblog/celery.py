"""The Celery app: eager in-process by default; with ``REDIS_URL`` through
Redis to workers, beat running the sweep and scheduled publishing every
``LIVEBLOG_SWEEP_SECONDS`` and retention hourly; a task's log lines carry
the request id of the request that sent it. See docs/events.md#beat."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

from liveblog.logging import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveblog.settings")

app = Celery("liveblog")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["posts.delivery", "posts.domain"])
connect_celery_signals()


@app.on_after_configure.connect
def _beat_schedule(sender, **kwargs):
    from django.conf import settings

    every = settings.LIVEBLOG_SWEEP_SECONDS
    sender.add_periodic_task(every, sender.signature("posts.delivery.tasks.sweep_task", expires=every), name="fan-out sweep")
    sender.add_periodic_task(
        every, sender.signature("posts.domain.tasks.publish_scheduled_task", expires=every), name="publish scheduled entries"
    )
    # Poll votes and "N reading now" (docs/polls.md): every second at most.
    flush = settings.LIVEBLOG_POLL_FLUSH_SECONDS
    sender.add_periodic_task(
        flush, sender.signature("posts.domain.tasks.flush_polls_task", expires=flush), name="flush poll votes"
    )
    sender.add_periodic_task(
        flush, sender.signature("posts.delivery.tasks.reader_counts_task", expires=flush), name="readers now"
    )
    hourly = settings.LIVEBLOG_RETENTION_SECONDS
    sender.add_periodic_task(
        hourly, sender.signature("posts.domain.tasks.retention_task", expires=hourly), name="retention"
    )


@worker_process_init.connect
def _freeze_startup_heap(**kwargs):
    """Each worker child starts with Django and the tasks loaded: keep that
    heap out of full collections (see ``liveblog/warmup.py``)."""
    gc.collect()
    gc.freeze()
