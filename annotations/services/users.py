from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotations.errors import SignInRefused
from annotations.models import AuditEvent, Invitation
from annotations.services.audit import audit_record
from evalportal.roles import ADMIN, CLINICIAN, ROLES, ensure_role_groups, user_role


def user_set_role(*, user, role: str, actor=None) -> None:
    """Give a user exactly one role. Admins are Django staff and superusers."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    groups = ensure_role_groups()
    with transaction.atomic():
        before = user_role(user)
        user.groups.remove(*[g for name, g in groups.items() if name != role])
        user.groups.add(groups[role])
        user.is_staff = user.is_superuser = role == ADMIN
        user.save(update_fields=["is_staff", "is_superuser"])
        user.__dict__.pop("_evalportal_role", None)
        if before != role:
            audit_record(actor=actor, action="user.role", obj=user, summary=f"{user.username}: {before} -> {role}",
                         before={"role": before}, after={"role": role})


def user_create(*, username: str, password: str, role: str, email: str = "", actor=None):
    """Create a user with a role; raises ValueError when the name is taken or the role unknown."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise ValueError(f"a user named {username!r} already exists")
        user = User.objects.create_user(username=username, password=password, email=email)
        user_set_role(user=user, role=role, actor=actor)
    return user


def user_hospital_sign_in(*, email: str, role: str, first_name: str = "", last_name: str = ""):
    """The account a hospital sign-in enters: the hospital's provider vouched for ``email``
    (the caller checked that it is verified) and its claims give ``role``. With no account
    of that address (username or email, in any case) one is made, with that role and no
    password. An existing account is entered only if it is active and has exactly that
    role, and, unless it is a clinician's, no password: a researcher's or an admin's
    password account is never taken over by an address. Entering an invited clinician's
    account accepts the invitation. Anything else raises ``SignInRefused``, changing nothing."""
    User = get_user_model()
    address = email.strip().lower()
    longest = User._meta.get_field("username").max_length
    if len(address) > longest:
        raise SignInRefused(f"Your address is longer than {longest} characters, the most a portal username may have.")
    with transaction.atomic():
        users = list(User.objects.select_for_update().filter(Q(username__iexact=address) | Q(email__iexact=address)))
        if len(users) > 1:
            raise SignInRefused(f"More than one portal account has the address {address}; an admin must "
                                "remove or change the others first.")
        if not users:
            user = User(username=address, email=email.strip(), first_name=first_name[:150], last_name=last_name[:150])
            user.set_unusable_password()
            user.save()
            user_set_role(user=user, role=role)
            audit_record(actor=user, action="user.hospital_create", obj=user,
                         summary=f"{address}: account made by hospital sign-in as {role}", after={"role": role})
            return user
        user = users[0]
        held = user_role(user)
        if not user.is_active:
            raise SignInRefused(f"The portal account of {address} is deactivated; ask the research team.")
        if held != role or user.is_staff != (role == ADMIN):
            raise SignInRefused(
                f"Your hospital account makes you {_a_role(role)} here, but the portal account of {address} is "
                f"{_a_role(held, account=True)}; ask an admin to change its role, or log in with its password.")
        if role != CLINICIAN and user.has_usable_password():
            raise SignInRefused(f"The portal account of {address} logs in with its password: hospital sign-in "
                                "never enters a researcher's or an admin's password account.")
        pending = Invitation.objects.filter(user=user, accepted_at__isnull=True)
        ids = list(pending.values_list("id", flat=True))
        if ids:
            pending.update(accepted_at=timezone.now())
            audit_record(actor=user, action="invitation.accept", obj=user,
                         summary=f"{user.username} accepted the invitation by hospital sign-in",
                         after={"invitations": ids, "how": "hospital sign-in"})
    return user


def _a_role(role: str | None, *, account: bool = False) -> str:
    if role is None:
        return "an account without a role"
    named = f"an {role}" if role == ADMIN else f"a {role}"
    return f"{named}'s account" if account else named


def user_password_set(*, user, password: str, how: str) -> None:
    """Set a password a Django auth form has validated (``how``: "change", "reset" or
    "invitation") and record that it changed (never the password). The user's API token
    goes with the old password: a token taken by whoever knew it must not outlive it."""
    with transaction.atomic():
        revoked = Token.objects.filter(user=user).exists()  # deleted by the save (TokensGoWithPassword)
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=user, action=f"user.password_{how}", obj=user, summary=f"{user.username}: password {how}",
                     after={"api_token_revoked": True} if revoked else None)


class TokensGoWithPassword:
    """Listed in AUTH_PASSWORD_VALIDATORS for Django's ``password_changed`` hook, which
    runs on every save of a new password (the pages, the Django admin's password form,
    ``manage.py changepassword``): the user's API token is deleted with the old password.
    It refuses no password; its help text tells the user what a new one does."""

    def validate(self, password, user=None) -> None:
        return None

    def password_changed(self, password, user) -> None:
        if user is not None and user.pk is not None:
            Token.objects.filter(user=user).delete()

    def get_help_text(self) -> str:
        return "A new password also revokes your API token, if you have one."


def user_token_revoke(*, user) -> bool:
    """Delete the user's API token (their scripts need a new one); False when they had none."""
    with transaction.atomic():
        revoked = Token.objects.filter(user=user).delete()[0] > 0
        if revoked:
            audit_record(actor=user, action="user.token_revoke", obj=user, summary=f"{user.username}: API token revoked")
    return revoked


RESET_MAIL_ACTION = "user.password_reset_mail"


def password_reset_mail_claim(*, email: str) -> bool:
    """Whether a password-reset mail may go to this address now, counting it if so: at most
    PASSWORD_RESET_MAILS_PER_HOUR in any hour, for an address in any case. Counted in the
    audit log, so every web process sees the same count; the accounts of the address are
    locked while counting, so requests at the same moment cannot all pass. An address with
    no account that could get a mail is not counted (nothing is sent to it)."""
    address = email.strip().lower()
    with transaction.atomic():
        accounts = [user for user in get_user_model().objects.select_for_update().filter(email__iexact=address)
                    if user.is_active and user.has_usable_password()]
        if not accounts:
            return True
        sent = AuditEvent.objects.filter(action=RESET_MAIL_ACTION, after__email=address,
                                         created_at__gte=timezone.now() - timedelta(hours=1)).count()
        if sent >= settings.PASSWORD_RESET_MAILS_PER_HOUR:
            return False
        audit_record(actor=None, action=RESET_MAIL_ACTION, obj=accounts[0],
                     summary=f"password-reset mail to {address}", after={"email": address})
    return True
