"""Settings modules: ``base`` (shared), ``local`` (development, manage.py's default),
``production`` (gunicorn and Celery's default) and ``test`` (pytest)."""
