"""The session store (evalportal.sessions) reads sessions with plain SQL: a live session
signs the user in, an expired or ended one never does."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from evalportal.roles import CLINICIAN
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def signed_in():
    UserFactory(username="dr_lee", role=CLINICIAN)
    client = Client()
    client.post("/accounts/login/", {"username": "dr_lee", "password": "pw-for-tests-123"})
    return client


def test_the_portal_uses_the_plain_sql_session_store(signed_in):
    assert settings.SESSION_ENGINE == "evalportal.sessions"
    assert signed_in.get("/rate/").status_code == 200


def test_an_expired_session_signs_nobody_in(signed_in):
    key = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = signed_in.get("/rate/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_logged_out_session_cookie_is_worthless_when_replayed(signed_in):
    key = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    signed_in.post("/accounts/logout/")
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = key
    response = replay.get("/rate/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not Session.objects.filter(session_key=key).exists()


def test_an_unknown_session_key_gets_a_fresh_session_not_an_error():
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/rate/").status_code == 302
