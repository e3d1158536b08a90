"""The Celery app. Embedded default: tasks run eagerly in-process; with
``REDIS_URL`` set they go through Redis to ``celery -A liveblog worker``,
and ``celery -A liveblog beat`` (or ``worker -B``) runs the schedule below.

Beat, every ``LIVEBLOG_SWEEP_SECONDS`` (2 s by default):

- ``posts.delivery.tasks.sweep_task`` re-enqueues events whose fan-out was never
  confirmed and webhook deliveries that are due (retries, or a worker died
  holding them);
- ``posts.domain.tasks.publish_scheduled_task`` publishes scheduled entries whose time
  has come. Running two beats is safe: each entry is re-checked under its
  blog's lock and published once.

Both expire after one interval so a stopped worker does not come back to a
queue full of stale sweeps. Every ``LIVEBLOG_RETENTION_SECONDS`` (an hour),
``posts.domain.tasks.retention_task`` deletes what is past its keep.

A task carries the request id of the request that sent it in its message
headers (``liveblog/logging.py``), so its log lines name the same id.
"""

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
