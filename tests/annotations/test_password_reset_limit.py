"""The reset page sends at most PASSWORD_RESET_MAILS_PER_HOUR mails to one address in an
hour, so it cannot flood a mailbox; past that it answers exactly as before, so it tells
nobody whether the address has an account or has reached its limit."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from annotations.models import AuditEvent
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _ask(email: str):
    response = Client().post("/accounts/password/reset/", {"email": email})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    return response


@pytest.fixture
def clin(clinician):
    clinician.email = "clin@example.org"
    clinician.save()
    return clinician


def test_an_address_gets_at_most_the_limit_of_mails_an_hour(clin, settings):
    settings.PASSWORD_RESET_MAILS_PER_HOUR = 2
    for email in ("clin@example.org", "CLIN@Example.org", "clin@example.org"):  # any case counts alike
        _ask(email)
    assert len(mail.outbox) == 2 and all(m.to == ["clin@example.org"] for m in mail.outbox)

    other = UserFactory(username="ben", email="ben@example.org")
    _ask(other.email)  # another address has its own count
    assert len(mail.outbox) == 3


def test_the_limit_is_per_hour(clin, settings):
    settings.PASSWORD_RESET_MAILS_PER_HOUR = 1
    _ask("clin@example.org")
    _ask("clin@example.org")
    assert len(mail.outbox) == 1
    # An hour on, the address may have a mail again (rows are moved back in time: the
    # audit log forbids saving them again, not the test).
    AuditEvent.objects.filter(action="user.password_reset_mail").update(
        created_at=timezone.now() - timedelta(hours=1, minutes=1))
    _ask("clin@example.org")
    assert len(mail.outbox) == 2


def test_the_answer_is_the_same_at_the_limit_and_for_an_unknown_address(clin, settings):
    settings.PASSWORD_RESET_MAILS_PER_HOUR = 1
    _ask("clin@example.org")
    at_limit = Client().post("/accounts/password/reset/", {"email": "clin@example.org"}, follow=True)
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@example.org"}, follow=True)
    assert at_limit.content == unknown.content and at_limit.redirect_chain == unknown.redirect_chain
    assert len(mail.outbox) == 1
    # An address without an account is not written down.
    assert not AuditEvent.objects.filter(action="user.password_reset_mail", after__email="nobody@example.org")
