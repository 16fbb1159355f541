"""Invitations make clinician accounts and nothing else: whoever invites sees the link, so
an invitation that attached to someone else's account (an admin's, a researcher's, one
made by hand) would hand that account over. Also: one page for every link that does not
work, and invitation CSVs that are oversized or broken get a clear error."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotations.forms import MAX_CSV_FIELD_CHARS
from annotations.models import Invitation
from annotations.services.users import user_set_role
from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER, user_role
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]
PASSWORD = "a-Long-and-rare-pass-42"
LINK = re.compile(r"http://testserver(/accounts/invitation/[^/\s]+/[^/\s]+/)")


def _invite(client, email, name="Dr Carol Mbeki"):
    return client.post("/accounts/invitations/", {"one-name": name, "one-email": email, "one-submit": "1"})


def _invite_csv(client, text: str):
    return client.post("/accounts/invitations/", {
        "csv-file": SimpleUploadedFile("team.csv", text.encode()), "csv-submit": "1"})


def _passwordless(**fields):
    """An account without a usable password, as an admin made through the Django admin or
    a single-sign-on import might leave one."""
    role = fields.pop("role", ADMIN)
    user = UserFactory(role=role, **fields)
    user.set_unusable_password()
    user.save()
    return user


def _set_password_through(link: str) -> Client:
    client = Client()
    form_url = client.get(link)["Location"]
    client.post(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    return client


def _can_log_in(username) -> bool:
    response = Client().post("/accounts/login/", {"username": username, "password": PASSWORD})
    return response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize(("account", "invited"), [
    ({"username": "carol@example.org"}, "carol@example.org"),  # the username, as is
    ({"username": "Carol@Example.org"}, "carol@example.org"),  # the username, in another case
    ({"username": "carol", "email": "carol@example.org"}, "Carol@Example.ORG"),  # the email, in any case
    ({"username": "carol", "email": "Carol@example.org", "role": RESEARCHER}, "carol@example.org"),
    # A clinician made by hand, never by an invitation.
    ({"username": "carol@example.org", "role": CLINICIAN}, "carol@example.org"),
], ids=["admin-username", "admin-username-case", "admin-email-case", "researcher-email", "clinician-by-hand"])
def test_an_invitation_never_attaches_to_an_account_it_did_not_make(researcher_client, account, invited):
    victim = _passwordless(**account)
    page = _invite(researcher_client, invited)
    assert page.status_code == 400
    body = page.content.decode()
    assert "already has an account" in body and not LINK.search(body)
    assert not Invitation.objects.exists() and not mail.outbox
    assert get_user_model().objects.count() == 2  # the victim and the researcher, no duplicate
    victim.refresh_from_db()
    assert not victim.has_usable_password()


def test_a_list_with_one_such_address_invites_nobody(researcher_client):
    _passwordless(username="boss", email="boss@example.org")
    page = _invite_csv(researcher_client, "Dr Ada Osei,ada@example.org\nThe Boss,BOSS@example.org\n")
    assert page.status_code == 400 and "boss@example.org: already has an account" in page.content.decode()
    assert not Invitation.objects.exists()
    assert not get_user_model().objects.filter(username="ada@example.org").exists()


def test_a_staff_flag_alone_makes_the_account_someone_elses(researcher_client):
    first = LINK.search(_invite(researcher_client, "carol@example.org").content.decode())
    assert first
    carol = get_user_model().objects.get(username="carol@example.org")
    get_user_model().objects.filter(pk=carol.pk).update(is_staff=True)
    assert _invite(researcher_client, "carol@example.org").status_code == 400


def test_a_pending_invitation_is_renewed_on_the_same_account_in_any_case(researcher_client):
    _invite(researcher_client, "carol@example.org")
    page = _invite(researcher_client, "Carol@Example.org")
    assert page.status_code == 200
    carol = get_user_model().objects.get(username="carol@example.org")
    assert get_user_model().objects.filter(username__iexact="carol@example.org").count() == 1
    assert Invitation.objects.filter(user=carol).count() == 2 and user_role(carol) == CLINICIAN

    _set_password_through(LINK.search(page.content.decode()).group(1))
    assert _can_log_in("carol@example.org")
    # Accepted: from now on it is Carol's account, and no invitation reaches it.
    again = _invite(researcher_client, "carol@example.org")
    assert again.status_code == 400 and Invitation.objects.count() == 2


def test_a_clinician_who_once_set_a_password_is_not_invited_again(researcher_client):
    """Their password made unusable since (an admin locking them out), the account is
    still theirs, with their ratings: a new link would hand it to whoever sees it."""
    _set_password_through(LINK.search(_invite(researcher_client, "carol@example.org").content.decode()).group(1))
    carol = get_user_model().objects.get(username="carol@example.org")
    carol.set_unusable_password()
    carol.save()
    page = _invite(researcher_client, "carol@example.org")
    assert page.status_code == 400 and "already has an account" in page.content.decode()
    assert Invitation.objects.count() == 1


def test_a_link_stops_working_once_its_account_is_given_a_role(researcher_client):
    """The researcher keeps the link they were shown; an admin promotes the pending
    account; the link must not set the password of a researcher's or admin's account."""
    link = LINK.search(_invite(researcher_client, "carol@example.org").content.decode()).group(1)
    carol = get_user_model().objects.get(username="carol@example.org")
    user_set_role(user=carol, role=ADMIN)

    page = Client().get(link, follow=True)
    assert "does not work" in page.content.decode() and "Choose the password" not in page.content.decode()
    carol.refresh_from_db()
    assert not carol.has_usable_password() and not _can_log_in("carol@example.org")


def test_a_link_opened_before_the_account_changed_sets_nothing(researcher_client):
    link = LINK.search(_invite(researcher_client, "carol@example.org").content.decode()).group(1)
    client = Client()
    form_url = client.get(link)["Location"]
    assert "Choose the password" in client.get(form_url).content.decode()
    user_set_role(user=get_user_model().objects.get(username="carol@example.org"), role=RESEARCHER)

    done = client.post(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 200 and "does not work" in done.content.decode()
    assert not _can_log_in("carol@example.org")


def test_the_same_address_twice_in_one_list_is_refused_in_any_case(researcher):
    from annotations.errors import InvalidRequest
    from annotations.services.invitations import invitations_create

    with pytest.raises(InvalidRequest, match="carol@example.org: appears more than once"):
        invitations_create(people=[("Carol", "carol@example.org"), ("Carol M", "CAROL@example.org")],
                           actor=researcher, base_url="http://testserver/")
    assert not Invitation.objects.exists() and get_user_model().objects.count() == 1


def test_an_address_too_long_for_a_username_is_refused_clearly(researcher_client):
    email = "c" * 140 + "@example.org"
    page = _invite(researcher_client, email)
    assert page.status_code == 400 and "the most a username may have" in page.content.decode()
    assert not get_user_model().objects.filter(email=email).exists()


def test_every_link_that_does_not_work_gets_the_same_page(researcher_client, settings, monkeypatch):
    """Used, expired, made up, or for an account that does not exist: one message, so the
    page tells nobody which accounts accepted their invitation."""
    used = LINK.search(_invite(researcher_client, "used@example.org").content.decode()).group(1)
    _set_password_through(used)
    expired = LINK.search(_invite(researcher_client, "late@example.org").content.decode()).group(1)
    accepted_uid = used.split("/")[3]
    pending_uid = expired.split("/")[3]

    def body(path):
        page = Client().get(path, follow=True)
        assert page.status_code == 200
        return page.content.decode()

    pages = {"used": body(used), "made-up token, accepted account": body(f"/accounts/invitation/{accepted_uid}/x-y/"),
             "made-up token, pending account": body(f"/accounts/invitation/{pending_uid}/x-y/"),
             "no such account": body("/accounts/invitation/OTk5OQ/x-y/")}
    from annotations.invitation_tokens import invitation_token_generator

    later = invitation_token_generator._now() + timedelta(days=settings.INVITATION_VALID_DAYS, minutes=1)
    monkeypatch.setattr(invitation_token_generator, "_now", lambda: later)
    pages["expired"] = body(expired)
    assert len(set(pages.values())) == 1, {k: v[-600:] for k, v in pages.items()}
    assert "does not work" in pages["used"]


@pytest.mark.parametrize("field", [
    "x" * 200_000,  # past the csv module's own limit: it used to answer 500
    "x" * (MAX_CSV_FIELD_CHARS + 1),  # under it, but no name or address is that long
], ids=["200k", "just-over"])
def test_an_oversized_csv_field_is_a_clear_error(researcher_client, field):
    page = _invite_csv(researcher_client, f'name,email\nDr Ada Osei,ada@example.org\n"{field}",b@example.org\n')
    assert page.status_code == 400
    assert f"line 3: a field is longer than {MAX_CSV_FIELD_CHARS:,} characters" in page.content.decode()
    assert not Invitation.objects.exists() and get_user_model().objects.count() == 1


@pytest.mark.parametrize("text", ['Dr Ada Osei,"ada@example.org\n', 'Dr Ada Osei,"ada"@example.org\n'],
                         ids=["unclosed-quote", "stray-quote"])
def test_a_broken_csv_is_a_clear_error(researcher_client, text):
    page = _invite_csv(researcher_client, text)
    assert page.status_code == 400 and "not valid CSV" in page.content.decode()
    assert not Invitation.objects.exists()


def test_a_space_after_the_comma_is_read_as_people_write_it(researcher_client):
    page = _invite_csv(researcher_client, 'name, email\n"Osei, Ada", "ada@example.org"\n')
    assert page.status_code == 200
    assert Invitation.objects.get().name == "Osei, Ada"
