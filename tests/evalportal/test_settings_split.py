"""The settings modules as each entry point picks them, in real processes with a clean
environment (no DJANGO_* variables, no DATABASE_URL or REDIS_URL, a fresh var/ folder):
manage.py runs on the local settings, gunicorn (evalportal/wsgi.py) and Celery
(evalportal/celery.py) on the production ones, which refuse to start without a secret."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "EVALPORTAL_")) and k not in ("DATABASE_URL", "REDIS_URL")}
    env["EVALPORTAL_VAR_DIR"] = str(tmp_path / "var")
    return env


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _print_settings(module: str | None, expression: str, env: dict) -> subprocess.CompletedProcess:
    if module:
        env = {**env, "DJANGO_SETTINGS_MODULE": module}
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return _run(["-c", code], env)


def test_manage_py_runs_on_the_local_settings_with_debug_on(clean_env, tmp_path):
    check = _run(["manage.py", "check"], clean_env)
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout
    shown = _run(["manage.py", "shell", "-v", "0", "-c", "from django.conf import settings as s; "
                  "print(s.SETTINGS_MODULE, s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
                  "s.DATABASES['default']['NAME'])"], clean_env)
    assert shown.stdout.split() == ["evalportal.settings.local", "True", "False", "False",
                                    str(tmp_path / "var" / "evalportal.sqlite3")], shown.stderr


def test_django_debug_0_turns_debug_off_in_the_local_settings(clean_env):
    result = _print_settings("evalportal.settings.local", "settings.DEBUG, bool(settings.SECRET_KEY)",
                             {**clean_env, "DJANGO_DEBUG": "0"})
    assert result.stdout.split() == ["False", "True"], result.stderr


def test_production_settings_without_a_secret_key_do_not_start(clean_env):
    result = _print_settings("evalportal.settings.production", "settings.DEBUG", clean_env)
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: Set DJANGO_SECRET_KEY" in result.stderr


def test_production_settings_with_a_secret_key(clean_env):
    result = _print_settings("evalportal.settings.production",
                             "settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE",
                             {**clean_env, "DJANGO_SECRET_KEY": "s3cret-for-this-test"})
    assert result.stdout.split() == ["False", "True", "True"], result.stderr


# gunicorn imports evalportal.wsgi, whose package imports evalportal.celery first; running
# wsgi.py by path checks its own default too.
ENTRY_POINTS = {
    "celery": "from evalportal.celery import app; app.conf.broker_url",
    "wsgi": "import runpy; runpy.run_path('evalportal/wsgi.py')",
}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_celery_and_wsgi_default_to_the_production_settings(clean_env, entry_point):
    code = (f"{ENTRY_POINTS[entry_point]}; from django.conf import settings; "
            "print(settings.SETTINGS_MODULE, settings.DEBUG)")
    result = _run(["-c", code], {**clean_env, "DJANGO_SECRET_KEY": "s3cret-for-this-test"})
    assert result.stdout.split() == ["evalportal.settings.production", "False"], result.stderr
    refused = _run(["-c", code], clean_env)
    assert refused.returncode != 0 and "Set DJANGO_SECRET_KEY" in refused.stderr
