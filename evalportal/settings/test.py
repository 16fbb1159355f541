"""Settings for the test suite: the production settings with a test secret and a fast
password hasher. DATABASE_URL picks PostgreSQL or SQLite (see the Makefile)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from evalportal.settings.production import *  # noqa: E402,F403
from modeling.endpoint_policy import AddressPolicy  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The live server of the browser tests speaks plain http.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
# The tests' chat servers listen on 127.0.0.1; the tests of the refusal turn this off.
EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = AddressPolicy.from_setting("1").allowed
