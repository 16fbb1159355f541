"""Inviting clinicians: an account without a password and a one-time link, mailed and
shown to whoever invited them; accepting the link sets the password."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from annotations.errors import InvalidRequest
from annotations.invitation_tokens import invitation_made, invitation_open, invitation_token_generator
from annotations.models import Invitation
from annotations.services.audit import audit_record
from annotations.services.users import user_password_set, user_set_role
from evalportal.roles import CLINICIAN

logger = logging.getLogger(__name__)
MAX_INVITATIONS = 1000  # in one go; a CSV of more is refused before anything is made
# One answer for every link that does not work: telling a used link from a wrong one would
# say which accounts accepted.
INVALID_LINK = "This invitation link does not work: it was already used, has expired, or is not a valid link."


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


def _accounts(people: list[tuple[str, str]]) -> tuple[dict[str, object], list[str]]:
    """The account each address may re-invite (keyed by the address in lower case) and
    what refuses the list. An address matches an account whose username or email is that
    address in any case; an invitation reuses only an account an invitation made that
    never set a password and is a clinician only (``invitation_made``). Any other match is
    someone's account, which a link shown to the inviter would hand over."""
    User = get_user_model()
    emails = [email.lower() for _, email in people]
    problems = [f"{email}: appears more than once" for email, n in Counter(emails).items() if n > 1]
    longest = User._meta.get_field("username").max_length
    problems += [f"{email}: longer than {longest} characters, the most a username may have"
                 for email in dict.fromkeys(emails) if len(email) > longest]
    matches: dict[str, list] = defaultdict(list)
    wanted = set(emails)
    for user in (User.objects.annotate(lower_username=Lower("username"), lower_email=Lower("email"))
                 .filter(Q(lower_username__in=wanted) | Q(lower_email__in=wanted))
                 .prefetch_related("groups", "invitations")):
        for email in {user.lower_username, user.lower_email} & wanted:
            matches[email].append(user)
    reuse = {}
    for email in dict.fromkeys(emails):
        users = matches.get(email, [])
        if len(users) == 1 and invitation_made(users[0]):
            reuse[email] = users[0]
        elif users:
            problems.append(f"{email}: already has an account (only a clinician invited here who never "
                            f"set a password can be invited again)")
    return reuse, problems


def invitations_create(*, people: list[tuple[str, str]], actor, base_url: str) -> list[InvitationSent]:
    """Invite each (name, email) as a clinician, all or none. An invitation makes a new
    account, or gives a new link to a clinician an earlier invitation made who never set
    a password; an address that matches any other account (username or email, in any
    case), or appears twice, refuses the whole list. The mails go out once the accounts
    are committed; a mail that cannot be sent is reported, and the link is there to pass
    on by hand."""
    if not people:
        raise InvalidRequest("Nobody to invite.")
    if len(people) > MAX_INVITATIONS:
        raise InvalidRequest(f"At most {MAX_INVITATIONS} invitations at once ({len(people)} given).")
    User = get_user_model()
    expires = timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS)
    made: list[tuple[Invitation, str]] = []
    try:
        with transaction.atomic():
            reuse, problems = _accounts(people)
            if problems:
                raise InvalidRequest("Nobody was invited: " + "; ".join(problems))
            for name, email in people:
                user = reuse.get(email.lower())
                if user is None:
                    user = User(username=email.lower(), email=email, first_name=name[:150])
                    user.set_unusable_password()
                    user.save()
                    user_set_role(user=user, role=CLINICIAN, actor=actor)
                invitation = Invitation.objects.create(user=user, name=name, email=email, invited_by=actor,
                                                       expires_at=expires)
                audit_record(actor=actor, action="invitation.create", obj=invitation,
                             summary=f"{name} <{email}> invited as clinician",
                             after={"user": user.pk, "expires_at": expires.isoformat()})
                made.append((invitation, invitation_link(user=user, base_url=base_url)))
    except IntegrityError:
        # Someone made one of these accounts between the check and the insert.
        raise InvalidRequest("Nobody was invited: one of these accounts was made meanwhile; try again.") from None
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
    """The invited clinician chose a password (already validated by the form): it is set
    through ``user_password_set``, which spends the link, and the invitation is marked
    accepted. Checked again under the account's lock: a link whose account has since
    become someone's (a role given, a password set) sets nothing."""
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        if not invitation_open(locked):
            raise InvalidRequest(INVALID_LINK)
        user_password_set(user=locked, password=password, how="invitation")
        now = timezone.now()
        pending = Invitation.objects.filter(user=locked, accepted_at__isnull=True)
        ids = list(pending.values_list("id", flat=True))
        pending.update(accepted_at=now)
        audit_record(actor=locked, action="invitation.accept", obj=locked,
                     summary=f"{locked.username} accepted the invitation and set a password",
                     after={"invitations": ids})
