"""Development settings, the default of manage.py: DEBUG on (``DJANGO_DEBUG=0`` turns it
off), a development-only secret key when DJANGO_SECRET_KEY is unset, and session and CSRF
cookies without the Secure flag (the development server speaks plain http)."""

import os

from evalportal.settings.base import *  # noqa: F403
from evalportal.settings.base import env_bool
from modeling.endpoint_policy import AddressPolicy

DEBUG = env_bool("DJANGO_DEBUG", True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _DEV_SECRET
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
# Mails (invitations, password resets) are printed by the development server.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Endpoints may be on this machine or the local network (a vLLM server beside the portal)
# unless EVALPORTAL_ENDPOINT_ALLOW_PRIVATE says otherwise.
EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = AddressPolicy.from_setting(
    os.environ.get("EVALPORTAL_ENDPOINT_ALLOW_PRIVATE", "1")).allowed
