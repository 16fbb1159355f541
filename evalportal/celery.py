"""The Celery app and its queues (named in :mod:`annotations.queues`, routed to by
:mod:`annotations.job_kinds`): ``default`` (imports, aggregation, exports), ``gpu``
(generation, training, judging) and ``endpoint`` (generation by an arm served over an
inference server's HTTP API). GPU workers run with concurrency 1 and prefetch 1 (see
README). Only :mod:`annotations.services.queue` sends to it or revokes."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready
from kombu import Queue

from annotations.queues import DEFAULT_QUEUE, QUEUES

# Production unless the caller chose (manage.py runportal passes on the local settings): a
# long-running worker must not run with DEBUG, which keeps every SQL query in memory.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalportal.settings.production")

app = Celery("evalportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.task_default_queue = DEFAULT_QUEUE
app.autodiscover_tasks()


@app.task(name="evalportal.ping")
def ping() -> str:
    return "pong"


@worker_ready.connect
@worker_process_init.connect
def freeze_startup_objects(**_) -> None:
    """Leave what the worker loaded at start (Django, torch, transformers: a great many
    objects) out of every later garbage collection: each full collection scanned them
    all, a pause that fell at random inside a chunk (ARCHITECTURE.md)."""
    gc.collect()
    gc.freeze()
