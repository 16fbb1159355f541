"""The one-time token of an invitation link: Django's password-reset token (a hash of the
account's password hash, last login and the time), under its own salt so a reset link
cannot stand in for an invitation, and with its own lifetime (INVITATION_VALID_DAYS).

Which accounts an invitation may set the password of lives here too, because a token is
worth no more than that rule: whoever invites sees the link, so a link that could set
the password of an admin's or a researcher's account would hand that account to them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int

from evalportal.roles import CLINICIAN


def invitation_made(user) -> bool:
    """Whether an invitation may (again) set this account's password: an account an
    invitation made, still active, that never had a password (none usable, no invitation
    accepted, never logged in), and a clinician only (no other role group, not staff, not
    superuser). Reads prefetched ``groups`` and ``invitations`` when the caller loaded them."""
    if (user is None or user.has_usable_password() or user.last_login is not None or not user.is_active
            or user.is_staff or user.is_superuser):
        return False
    invitations = user.invitations.all()
    return ({g.name for g in user.groups.all()} == {CLINICIAN} and bool(invitations)
            and not any(invitation.accepted_at for invitation in invitations))


def invitation_open(user) -> bool:
    """Whether the account still waits for an invitation it may accept: one the rule above
    allows, with an invitation neither accepted nor expired."""
    return invitation_made(user) and user.invitations.filter(accepted_at__isnull=True,
                                                             expires_at__gt=timezone.now()).exists()


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "evalportal.invitation"

    def check_token(self, user, token):
        # The parent's check with the invitation's lifetime instead of PASSWORD_RESET_TIMEOUT,
        # and only while the account is one an invitation may still set the password of.
        if not (user and token):
            return False
        try:
            stamp, _ = token.split("-")
            timestamp = base36_to_int(stamp)
        except ValueError:
            return False
        if not any(constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
                   for secret in [self.secret, *self.secret_fallbacks]):
            return False
        if self._num_seconds(self._now()) - timestamp > settings.INVITATION_VALID_DAYS * 86400:
            return False
        return invitation_open(user)


invitation_token_generator = InvitationTokenGenerator()
