"""Hospital sign-in (OpenID Connect) against a real provider (oidc-provider under node):
off by default, a role only from the claims the deployment names, an invited clinician's
account joined only by a verified address, nobody refused left with an account, and the
password login beside it as before (django-axes included)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotations.invitation_tokens import invitation_open
from annotations.models import AuditEvent
from annotations.services.invitations import invitations_create
from evalportal.roles import CLINICIAN, RESEARCHER, user_role
from tests.factories import UserFactory
from tests.oidc_helpers import CALLBACK_PATH, provider_sign_in, running_provider

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PORTAL = "http://testserver"
INVITED = "invited.clinician@stmarys.example"


@pytest.fixture(scope="module")
def provider():
    with running_provider([PORTAL + CALLBACK_PATH]) as provider:
        yield provider


@pytest.fixture
def hospital(provider, settings):
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    return provider


def hospital_sign_in(client: Client, login: str, next_url: str = ""):
    start = client.get(reverse("oidc_authentication_init") + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.content
    back = provider_sign_in(start["Location"], login, PORTAL)
    return client.get(back.removeprefix(PORTAL))


def signed_in_user(client: Client):
    return client.get(reverse("home")).wsgi_request.user


def test_off_by_default_the_login_page_has_no_button_and_the_pages_are_not_there(client):
    assert not settings.OIDC_RP_CLIENT_ID
    login = client.get(reverse("login"))
    assert login.status_code == 200
    assert b"hospital-sign-in" not in login.content
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback") + "?code=x&state=y").status_code == 404


def test_the_login_page_offers_the_hospital_and_keeps_the_page_asked_for(client, hospital):
    login = client.get(reverse("login") + "?next=/rate/")
    assert b'id="hospital-sign-in"' in login.content
    assert "Sign in with St Mary&#x27;s" in login.content.decode()
    assert b'href="/accounts/hospital/start/?next=/rate/"' in login.content
    assert b'name="password"' in login.content  # the password form stays beside it


def test_the_clinician_claim_makes_a_clinician_account(client, hospital):
    answer = hospital_sign_in(client, "clinician", next_url="/rate/")
    assert answer.status_code == 302 and answer["Location"] == "/rate/"
    user = signed_in_user(client)
    assert user.username == "new.clinician@stmarys.example" and user.email == "new.clinician@stmarys.example"
    assert (user.first_name, user.last_name) == ("Nadia", "New")
    assert user_role(user) == CLINICIAN and not user.is_staff and not user.has_usable_password()
    assert client.get("/rate/").status_code == 200
    assert AuditEvent.objects.filter(action="user.hospital_create", object_id=str(user.pk)).exists()
    # The next sign-in enters the same account.
    client.post(reverse("logout"))
    assert hospital_sign_in(client, "clinician").status_code == 302
    assert signed_in_user(client).pk == user.pk
    assert get_user_model().objects.filter(email__iexact="new.clinician@stmarys.example").count() == 1


def test_without_the_clinician_claim_the_sign_in_is_refused_and_no_account_is_made(client, hospital):
    users = get_user_model().objects.count()
    answer = hospital_sign_in(client, "porter")
    assert answer.status_code == 403
    assert "does not give you a role in this portal" in answer.content.decode()
    assert get_user_model().objects.count() == users
    assert not signed_in_user(client).is_authenticated


def test_an_invited_clinician_joins_the_invited_account_by_verified_address(client, hospital, researcher):
    invitation = invitations_create(people=[("Dr Ines Invited", INVITED)], actor=researcher,
                                    base_url=PORTAL)[0].invitation
    users = get_user_model().objects.count()
    assert hospital_sign_in(client, "invited").status_code == 302
    user = signed_in_user(client)
    assert user.pk == invitation.user_id and user_role(user) == CLINICIAN
    assert get_user_model().objects.count() == users
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert not invitation_open(user)  # its link sets no password now: the account is someone's
    assert AuditEvent.objects.filter(action="invitation.accept", object_id=str(user.pk)).exists()


def test_an_unverified_address_links_to_nothing(client, hospital, researcher):
    invitation = invitations_create(people=[("Dr Ines Invited", INVITED)], actor=researcher,
                                    base_url=PORTAL)[0].invitation
    users = get_user_model().objects.count()
    answer = hospital_sign_in(client, "unverified")  # the invited address, not verified by the hospital
    assert answer.status_code == 403
    assert "has not verified the address" in answer.content.decode()
    assert not signed_in_user(client).is_authenticated
    assert get_user_model().objects.count() == users
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    assert get_user_model().objects.get(pk=invitation.user_id).last_login is None


def test_a_token_from_another_issuer_signs_nobody_in(client, hospital, settings):
    settings.OIDC_OP_ISSUER = "https://login.elsewhere.example"
    answer = hospital_sign_in(client, "clinician")
    assert answer.status_code == 403 and "meant for another site" in answer.content.decode()
    assert not get_user_model().objects.filter(email__iexact="new.clinician@stmarys.example").exists()


def test_an_account_without_an_address_is_refused(client, hospital):
    answer = hospital_sign_in(client, "noemail")
    assert answer.status_code == 403 and "no email address" in answer.content.decode()


def test_researcher_and_admin_claims_give_nothing_unless_the_deployment_names_them(client, hospital, settings):
    # The lead is in the hospital's researchers and admins groups, and its clinicians.
    hospital_sign_in(client, "lead")
    user = signed_in_user(client)
    assert user_role(user) == CLINICIAN and not user.is_staff and not user.is_superuser
    client.post(reverse("logout"))
    get_user_model().objects.filter(pk=user.pk).delete()

    settings.EVALPORTAL_OIDC_ROLE_CLAIMS = {**settings.EVALPORTAL_OIDC_ROLE_CLAIMS,
                                            "researcher": ("groups", "researchers")}
    hospital_sign_in(client, "lead")
    assert user_role(signed_in_user(client)) == RESEARCHER


def test_a_researchers_password_account_is_never_entered_by_its_address(client, hospital, settings):
    researcher = UserFactory(username="lead", email="Research.Lead@stmarys.example", role=RESEARCHER)
    # The claims give a clinician: the researcher's account must not open to them.
    answer = hospital_sign_in(client, "lead")
    assert answer.status_code == 403 and "a researcher&#x27;s account" in answer.content.decode()
    assert not signed_in_user(client).is_authenticated
    # Nor when the deployment lets a claim give researchers: the account logs in with its password.
    settings.EVALPORTAL_OIDC_ROLE_CLAIMS = {**settings.EVALPORTAL_OIDC_ROLE_CLAIMS,
                                            "researcher": ("groups", "researchers")}
    answer = hospital_sign_in(client, "lead")
    assert answer.status_code == 403 and "never enters a researcher" in answer.content.decode()
    assert not signed_in_user(client).is_authenticated
    researcher.refresh_from_db()
    assert researcher.last_login is None and user_role(researcher) == RESEARCHER


def test_a_clinicians_password_account_is_entered_and_its_password_still_works(client, hospital):
    local = UserFactory(username="ines", email=INVITED, role=CLINICIAN)
    hospital_sign_in(client, "invited")
    assert signed_in_user(client).pk == local.pk
    local.refresh_from_db()
    assert local.check_password("pw-for-tests-123")


def test_password_login_works_beside_it_and_axes_still_locks_out_guessing(client, hospital, clinician):
    assert client.post(reverse("login"), {"username": "clin", "password": "pw-for-tests-123"}).status_code == 302
    assert signed_in_user(client).pk == clinician.pk
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "clin", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "clin", "password": "pw-for-tests-123"})
    assert locked.status_code == 429
    assert not signed_in_user(client).is_authenticated


def test_refused_hospital_sign_ins_lock_nobody_out(client, hospital):
    # One address for everyone, as behind a hospital's gateway: refusals are not failed logins to axes.
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert hospital_sign_in(client, "porter").status_code == 403
    assert hospital_sign_in(client, "clinician").status_code == 302
    assert signed_in_user(client).is_authenticated


def test_signing_out_ends_the_portal_session(client, hospital):
    hospital_sign_in(client, "clinician")
    assert client.get("/rate/").status_code == 200
    client.post(reverse("logout"))
    assert client.get("/rate/").status_code == 302
    assert not signed_in_user(client).is_authenticated


def test_a_callback_opened_twice_is_refused_with_a_page(client, hospital):
    start = client.get(reverse("oidc_authentication_init"))
    back = provider_sign_in(start["Location"], "clinician", PORTAL).removeprefix(PORTAL)
    assert client.get(back).status_code == 302
    client.post(reverse("logout"))
    again = client.get(back)
    assert again.status_code == 400 and not signed_in_user(client).is_authenticated


def test_a_provider_that_cannot_be_reached_gets_a_page_not_an_error(client, settings, hospital):
    settings.OIDC_OP_DISCOVERY_URL = "http://127.0.0.1:9/.well-known/openid-configuration"
    answer = client.get(reverse("oidc_authentication_init"))
    assert answer.status_code == 503
    assert "could not be reached" in answer.content.decode()


def _settings_from(env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "EVALPORTAL_OIDC_", "DJANGO_"))}
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(bool(s.OIDC_RP_CLIENT_ID), s.EVALPORTAL_OIDC_ROLE_CLAIMS)")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**base, "DJANGO_SETTINGS_MODULE": "evalportal.settings.local", **env})


def test_the_environment_sets_it_up_and_a_setup_without_a_clinician_claim_does_not_start():
    hospital = {"OIDC_RP_CLIENT_ID": "portal", "OIDC_RP_CLIENT_SECRET": "secret",
                "OIDC_OP_DISCOVERY_URL": "https://login.stmarys.example/.well-known/openid-configuration"}
    on = _settings_from({**hospital, "EVALPORTAL_OIDC_CLINICIAN_CLAIM": "groups=clinicians",
                         "EVALPORTAL_OIDC_RESEARCHER_CLAIM": "roles = portal-researcher"})
    assert on.stdout.strip() == ("True {'clinician': ('groups', 'clinicians'), "
                                 "'researcher': ('roles', 'portal-researcher')}"), on.stderr
    assert _settings_from({}).stdout.strip() == "False {}"
    no_claim = _settings_from(hospital)
    assert no_claim.returncode != 0 and "set EVALPORTAL_OIDC_CLINICIAN_CLAIM too" in no_claim.stderr
    no_endpoints = _settings_from({"OIDC_RP_CLIENT_ID": "portal", "EVALPORTAL_OIDC_CLINICIAN_CLAIM": "groups=x"})
    assert no_endpoints.returncode != 0 and "set OIDC_OP_DISCOVERY_URL" in no_endpoints.stderr
