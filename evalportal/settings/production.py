"""Production settings, the default of gunicorn (evalportal/wsgi.py) and of the Celery
workers (evalportal/celery.py): DEBUG off whatever DJANGO_DEBUG says, a secret key from
DJANGO_SECRET_KEY or no start at all, Secure session and CSRF cookies (unless
DJANGO_SECURE_COOKIES=0)."""

import os

from django.core.exceptions import ImproperlyConfigured

from evalportal.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "Set DJANGO_SECRET_KEY: the production settings (evalportal.settings.production) do not start "
        "without a secret key. For development use evalportal.settings.local, manage.py's default.")
