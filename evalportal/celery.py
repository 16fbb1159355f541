"""The Celery app. Queues: ``default`` (aggregation, exports) and ``gpu`` (generation,
training, judging). GPU workers run with concurrency 1 and prefetch 1 (see README)."""

import os

from celery import Celery

# Production unless the caller chose (manage.py runportal passes on the local settings): a
# long-running worker must not run with DEBUG, which keeps every SQL query in memory.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalportal.settings.production")

app = Celery("evalportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="evalportal.ping")
def ping() -> str:
    return "pong"
