"""Inviting clinicians: an account without a password and a one-time link, mailed and
shown to whoever invited them; accepting the link sets the password."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from annotations.errors import InvalidRequest
from annotations.invitation_tokens import invitation_token_generator
from annotations.models import Invitation
from annotations.services.audit import audit_record
from annotations.services.users import user_set_role
from evalportal.roles import CLINICIAN

logger = logging.getLogger(__name__)
MAX_INVITATIONS = 1000  # in one go; a CSV of more is refused before anything is made


@dataclass(frozen=True)
class InvitationSent:
    invitation: Invitation
    link: str
    mailed: bool
    mail_error: str = ""


def invitation_link(*, user, base_url: str) -> str:
    path = reverse("invitation-accept", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                                                "token": invitation_token_generator.make_token(user)})
    return base_url.rstrip("/") + path


def _problems(people: list[tuple[str, str]]) -> list[str]:
    User = get_user_model()
    emails = [email.lower() for _, email in people]
    # An account with a usable password is someone's; one without is an invitation not yet accepted.
    taken = {u.lower() for u in User.objects.filter(username__in=emails).exclude(password__startswith="!")
             .values_list("username", flat=True)}
    return [f"{email}: already has an account" for email in emails if email in taken]


def invitations_create(*, people: list[tuple[str, str]], actor, base_url: str) -> list[InvitationSent]:
    """Invite each (name, email) as a clinician, all or none: an email that already has an
    account refuses the whole list. Someone invited before who never set a password gets
    a new link. The mails go out once the accounts are committed; a mail that cannot be
    sent is reported, and the link is there to pass on by hand."""
    if not people:
        raise InvalidRequest("Nobody to invite.")
    if len(people) > MAX_INVITATIONS:
        raise InvalidRequest(f"At most {MAX_INVITATIONS} invitations at once ({len(people)} given).")
    problems = _problems(people)
    if problems:
        raise InvalidRequest("Nobody was invited: " + "; ".join(problems))
    User = get_user_model()
    expires = timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS)
    made: list[tuple[Invitation, str]] = []
    with transaction.atomic():
        for name, email in people:
            username = email.lower()
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, email=email, first_name=name[:150])
                user.set_unusable_password()
                user.save()
                user_set_role(user=user, role=CLINICIAN, actor=actor)
            invitation = Invitation.objects.create(user=user, name=name, email=email, invited_by=actor,
                                                   expires_at=expires)
            audit_record(actor=actor, action="invitation.create", obj=invitation,
                         summary=f"{name} <{email}> invited as clinician",
                         after={"user": user.pk, "expires_at": expires.isoformat()})
            made.append((invitation, invitation_link(user=user, base_url=base_url)))
    return [_mail(invitation, link) for invitation, link in made]


def _mail(invitation: Invitation, link: str) -> InvitationSent:
    body = (f"Dear {invitation.name},\n\nYou are invited to rate clinical cases on evalportal. Open this link to "
            f"choose your password (it works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n\n"
            f"Your username is {invitation.user.username}.\n")
    try:
        send_mail("Your evalportal invitation", body, None, [invitation.email])
    except Exception as exc:  # any backend's failure: the link is shown to the inviter instead
        logger.warning("invitation mail to %s not sent: %s", invitation.email, exc)
        return InvitationSent(invitation, link, mailed=False, mail_error=f"{exc.__class__.__name__}: {exc}")
    return InvitationSent(invitation, link, mailed=True)


def invitation_accept(*, user, password: str) -> None:
    """The invited clinician chose a password (already validated by the form): it is set,
    which spends the link, and the invitation is marked accepted."""
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        locked.set_password(password)
        locked.save(update_fields=["password"])
        now = timezone.now()
        pending = Invitation.objects.filter(user=locked, accepted_at__isnull=True)
        ids = list(pending.values_list("id", flat=True))
        pending.update(accepted_at=now)
        audit_record(actor=locked, action="invitation.accept", obj=locked,
                     summary=f"{locked.username} accepted the invitation and set a password",
                     after={"invitations": ids})
