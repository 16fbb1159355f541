"""The one-time token of an invitation link: Django's password-reset token (a hash of the
account's password hash, last login and the time), under its own salt so a reset link
cannot stand in for an invitation, and with its own lifetime (INVITATION_VALID_DAYS)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "evalportal.invitation"

    def check_token(self, user, token):
        # The parent's check with the invitation's lifetime instead of PASSWORD_RESET_TIMEOUT.
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
        return self._num_seconds(self._now()) - timestamp <= settings.INVITATION_VALID_DAYS * 86400


invitation_token_generator = InvitationTokenGenerator()
