"""API tokens go with the password they were taken with, and their owner can revoke them
(``DELETE /api/token/``, or the button on the account page); logging out keeps them, so
that scripts keep working."""

import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations.models import AuditEvent

pytestmark = pytest.mark.django_db
OLD = "pw-for-tests-123"
NEW = "a-Long-and-rare-pass-42"


def _token_for(username: str, password: str = OLD) -> str:
    response = APIClient().post("/api/token/", {"username": username, "password": password})
    assert response.status_code == 200
    return response.json()["token"]


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    status = client.get("/api/assignments/").status_code
    assert status in (200, 401)
    return status == 200


def test_a_password_change_revokes_the_token(clinician, clinician_client):
    key = _token_for("clin")
    done = clinician_client.post("/accounts/password/change/", {
        "old_password": OLD, "new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302
    assert not _works(key) and not Token.objects.filter(user=clinician).exists()
    assert AuditEvent.objects.get(action="user.password_change").after == {"api_token_revoked": True}
    assert _works(_token_for("clin", NEW))  # a new one with the new password


def test_a_password_reset_revokes_the_token(clinician):
    clinician.email = "clin@example.org"
    clinician.save()
    key = _token_for("clin")
    client = Client()
    client.post("/accounts/password/reset/", {"email": "clin@example.org"})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    assert client.post(form_url, {"new_password1": NEW, "new_password2": NEW}).status_code == 302
    assert not _works(key)


def test_every_password_the_services_set_revokes_the_token(clinician):
    from annotations.services.users import user_password_set

    key = _token_for("clin")
    user_password_set(user=clinician, password=NEW, how="invitation")
    assert not _works(key)


def test_logging_out_keeps_the_token(clinician):
    key = _token_for("clin")
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "clin", "password": OLD}).status_code == 302
    assert browser.post("/accounts/logout/").status_code == 302
    assert _works(key)


def test_the_owner_revokes_their_token_with_it(clinician, researcher):
    key, other = _token_for("clin"), _token_for("res")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    answer = client.delete("/api/token/")
    assert answer.status_code == 204 and not answer.content
    assert not _works(key) and _works(other)  # only the caller's own
    assert AuditEvent.objects.filter(action="user.token_revoke", object_id=str(clinician.pk)).count() == 1
    assert client.delete("/api/token/").status_code == 401  # that token is gone


def test_the_owner_revokes_their_token_from_a_session_with_csrf(clinician):
    key = _token_for("clin")
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(clinician)
    refused = session.delete("/api/token/")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"] and _works(key)

    session.get("/accounts/password/change/")  # sets the CSRF cookie
    answer = session.delete("/api/token/", HTTP_X_CSRFTOKEN=session.cookies["csrftoken"].value)
    assert answer.status_code == 204 and not _works(key)
    assert session.delete("/api/token/", HTTP_X_CSRFTOKEN=session.cookies["csrftoken"].value).status_code == 204


def test_an_anonymous_revocation_is_refused_and_changes_nothing(clinician):
    key = _token_for("clin")
    answer = APIClient().delete("/api/token/")
    assert answer.status_code == 401 and answer["WWW-Authenticate"] == "Token"
    assert _works(key)


def test_the_account_page_revokes_the_token_with_a_csrf_protected_post(clinician):
    key = _token_for("clin")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(clinician)
    page = browser.get("/rate/")
    assert 'href="/accounts/password/change/"' in page.content.decode()
    account = browser.get("/accounts/password/change/").content.decode()
    assert 'id="api-token"' in account and 'name="token-revoke"' in account

    assert browser.post("/accounts/password/change/", {"token-revoke": "1"}).status_code == 403  # no CSRF token
    assert _works(key)
    csrf = browser.cookies["csrftoken"].value
    done = browser.post("/accounts/password/change/", {"token-revoke": "1", "csrfmiddlewaretoken": csrf}, follow=True)
    assert done.status_code == 200 and "Your API token is revoked" in done.content.decode()
    assert not _works(key)
    again = browser.post("/accounts/password/change/", {"token-revoke": "1", "csrfmiddlewaretoken": csrf}, follow=True)
    assert "You had no API token" in again.content.decode()


def test_the_schema_documents_the_revocation(tmp_path):
    import yaml

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    operation = yaml.safe_load(out.read_text())["paths"]["/api/token/"]["delete"]
    assert "204" in operation["responses"] and "401" in operation["responses"]
    assert {"tokenAuth", "cookieAuth"} <= {name for entry in operation["security"] for name in entry}


def test_the_django_admins_password_form_revokes_the_token(clinician, admin_client_):
    key = _token_for("clin")
    done = admin_client_.post(f"/admin/auth/user/{clinician.pk}/password/",
                              {"password1": NEW, "password2": NEW, "usable_password": "true"})
    assert done.status_code == 302, done.content[:500]
    assert not _works(key)


def test_manage_py_changepassword_revokes_the_token(clinician, monkeypatch):
    key = _token_for("clin")
    monkeypatch.setattr("django.contrib.auth.management.commands.changepassword.getpass.getpass", lambda *a, **k: NEW)
    call_command("changepassword", "clin")
    assert not _works(key)
