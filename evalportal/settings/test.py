"""Settings for the test suite: the production settings with a test secret and a fast
password hasher. DATABASE_URL picks PostgreSQL or SQLite (see the Makefile)."""

import os
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")

from evalportal.settings.production import *  # noqa: E402,F403
from evalportal.settings.production import VAR_DIR  # noqa: E402
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

# pytest-xdist runs the suite in worker processes gw0, gw1, ... (PYTEST_XDIST_WORKER), each
# with its own test database. Each also gets its own Redis database (REDIS_URL's, default 15,
# minus the worker's number), so that no worker consumes another's Celery messages, and its
# own folder for uploads and adapters. Derived from the environment alone, never written
# back to it: the Celery workers a test starts inherit it and arrive at the same values.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_worker_index = int(_xdist_worker.removeprefix("gw") or 0)


def _redis_url_of_worker(url: str, index: int) -> str:
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) - index
    if database < 0:
        raise ImproperlyConfigured(f"{url} leaves no Redis database for pytest-xdist worker {index}: "
                                   "name a higher database number in REDIS_URL, or run fewer workers")
    return urlunsplit(parts._replace(path=f"/{database}"))


REDIS_URL = CELERY_BROKER_URL = CELERY_RESULT_BACKEND = _redis_url_of_worker(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"), _worker_index)
if _xdist_worker:
    _worker_var = VAR_DIR / "xdist" / _xdist_worker
    MEDIA_ROOT = _worker_var / "media"
    EVALPORTAL_ADAPTER_DIR = _worker_var / "adapters"
    EVALPORTAL_MODEL_ROOTS = [EVALPORTAL_ADAPTER_DIR, *EVALPORTAL_MODEL_ROOTS[1:]]  # noqa: F405
