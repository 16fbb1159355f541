"""Login throttling, security headers and production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from evalportal.roles import CLINICIAN
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_repeated_wrong_passwords_lock_the_login():
    UserFactory(username="dr_lee", role=CLINICIAN)
    client = Client()
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "dr_lee", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    locked = client.post("/accounts/login/", {"username": "dr_lee", "password": "pw-for-tests-123"})
    assert locked.status_code == 429  # even the right password, until the cool-off ends
    other = Client().post("/accounts/login/", {"username": "someone_else", "password": "x"})
    assert other.status_code == 200


def test_pages_carry_a_strict_content_security_policy(clinician_client):
    response = clinician_client.get("/rate/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.content.decode()  # no inline script


def _settings_in_subprocess(env_overrides: dict, expression: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="evalportal.settings.production")
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _settings_in_subprocess({}, "settings.DEBUG")
    assert result.returncode != 0 and "Set DJANGO_SECRET_KEY" in result.stderr


def test_production_defaults_are_safe():
    result = _settings_in_subprocess({"DJANGO_SECRET_KEY": "s3cret-for-this-test"},
                                     "settings.DEBUG, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
                                     "settings.SECRET_KEY")
    assert result.stdout.strip() == "False True True s3cret-for-this-test", result.stderr


def test_production_ignores_django_debug():
    result = _settings_in_subprocess({"DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": "s3cret-for-this-test"},
                                     "settings.DEBUG, settings.SESSION_COOKIE_SECURE")
    assert result.stdout.strip() == "False True", result.stderr
