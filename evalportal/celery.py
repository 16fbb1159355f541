"""The Celery app. Queues: ``default`` (aggregation, exports) and ``gpu`` (generation,
training, judging). GPU workers run with concurrency 1 and prefetch 1 (see README)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalportal.settings")

app = Celery("evalportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="evalportal.ping")
def ping() -> str:
    return "pong"
