"""Accounts as clinicians and the research team use them: invitations one by one or from
a CSV, one-time expiring links, and Django's password change and reset."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotations.models import AuditEvent, Invitation
from evalportal.roles import CLINICIAN, user_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-Long-and-rare-pass-42"
LINK = re.compile(r"http://testserver(/accounts/invitation/[^/\s]+/[^/\s]+/)")


def _can_log_in(username, password) -> bool:
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302 and response["Location"] == "/"


def _invite_one(client, name="Dr Ada Osei", email="ada.osei@example.org"):
    return client.post("/accounts/invitations/", {"one-name": name, "one-email": email, "one-submit": "1"})


def _accept(path, password=NEW_PASSWORD):
    client = Client()
    form_url = client.get(path)["Location"]  # Django moves the token into the session
    page = client.get(form_url)
    assert "Choose the password" in page.content.decode()
    return client, client.post(form_url, {"new_password1": password, "new_password2": password})


def test_an_invited_clinician_sets_a_password_once_and_logs_in(researcher_client):
    page = _invite_one(researcher_client)
    assert page.status_code == 200
    body = page.content.decode()
    link = LINK.search(body).group(1)  # shown to the inviter, to copy
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body and mail.outbox[0].to == ["ada.osei@example.org"]
    user = get_user_model().objects.get(username="ada.osei@example.org")
    assert user_role(user) == CLINICIAN and not user.has_usable_password()

    client, done = _accept(link)
    assert done["Location"] == "/accounts/login/"
    assert _can_log_in("ada.osei@example.org", NEW_PASSWORD)
    assert Invitation.objects.get(user=user).accepted_at is not None
    assert AuditEvent.objects.filter(action="invitation.accept", object_id=str(user.pk)).exists()

    again = Client().get(link)
    assert again.status_code == 200 and "already used" in again.content.decode()


def test_an_expired_invitation_is_refused_with_a_clear_message(researcher_client, settings, monkeypatch):
    link = LINK.search(_invite_one(researcher_client).content.decode()).group(1)
    from annotations.invitation_tokens import invitation_token_generator

    later = invitation_token_generator._now() + timedelta(days=settings.INVITATION_VALID_DAYS, minutes=1)
    monkeypatch.setattr(invitation_token_generator, "_now", lambda: later)
    page = Client().get(link)
    assert "has expired" in page.content.decode()


def test_a_csv_invites_everyone_or_nobody(researcher_client):
    good = "name,email\nDr Ada Osei,ada@example.org\n\nDr Ben Ito,ben@example.org\n"
    page = researcher_client.post("/accounts/invitations/", {
        "csv-file": SimpleUploadedFile("team.csv", good.encode()), "csv-submit": "1"})
    assert page.status_code == 200 and len(LINK.findall(page.content.decode())) == 2
    assert Invitation.objects.count() == 2

    bad = "Dr Cy Dee,cy@example.org\nnot an email,nope\nDr Ada Osei,ada@example.org\n"
    refused = researcher_client.post("/accounts/invitations/", {
        "csv-file": SimpleUploadedFile("team.csv", bad.encode()), "csv-submit": "1"})
    assert refused.status_code == 400 and "line 2" in refused.content.decode()
    assert Invitation.objects.count() == 2 and not get_user_model().objects.filter(username="cy@example.org").exists()


def test_an_email_with_an_account_is_refused_and_changes_nothing(researcher_client):
    UserFactory(username="taken@example.org")
    page = _invite_one(researcher_client, email="taken@example.org")
    assert page.status_code == 400 and "already has an account" in page.content.decode()
    assert not Invitation.objects.exists() and not mail.outbox


def test_a_mail_that_cannot_be_sent_leaves_the_link_to_copy(researcher_client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    body = _invite_one(researcher_client).content.decode()
    assert LINK.search(body) and "not sent" in body


def test_password_change_is_reachable_from_every_signed_in_page(clinician, clinician_client):
    assert 'href="/accounts/password/change/"' in clinician_client.get("/rate/").content.decode()
    done = clinician_client.post("/accounts/password/change/", {
        "old_password": "pw-for-tests-123", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/accounts/password/change/done/"
    assert clinician_client.get("/rate/").status_code == 200  # still logged in here
    assert _can_log_in("clin", NEW_PASSWORD)
    assert AuditEvent.objects.filter(action="user.password_change").count() == 1


def test_a_wrong_old_password_changes_nothing(clinician, clinician_client):
    page = clinician_client.post("/accounts/password/change/", {
        "old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert page.status_code == 200
    assert _can_log_in("clin", "pw-for-tests-123")


def test_password_reset_by_mail_works_once(clinician):
    clinician.email = "clin@example.org"
    clinician.save()
    client = Client()
    assert 'href="/accounts/password/reset/"' in client.get("/accounts/login/").content.decode()
    client.post("/accounts/password/reset/", {"email": "clin@example.org"})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/accounts/password/reset/done/"
    assert _can_log_in("clin", NEW_PASSWORD)
    assert "already used or has expired" in Client().get(link).content.decode()
    assert AuditEvent.objects.filter(action="user.password_reset").count() == 1
