"""Hospital sign-in through OpenID Connect: mozilla-django-oidc's views and backend, with
the portal's rules. Off unless ``OIDC_RP_CLIENT_ID`` is set: its pages answer 404 and
its backend signs nobody in.

A sign-in lets someone in only if the provider's claims give a role
(``EVALPORTAL_OIDC_ROLE_CLAIMS``; researcher and admin only where the deployment names a
claim for them) and the provider vouches for the address (``email_verified``). Which
account the address enters is ``annotations.services.users.user_hospital_sign_in``.
Anyone refused sees why, on a page, and nothing is made or linked."""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.generic import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from evalportal.roles import ROLES_BY_RANK, RoleAwareModelBackend

logger = logging.getLogger(__name__)

# Where the backend leaves the reason a sign-in was refused, for the callback's page.
REFUSAL = "hospital_sign_in_refusal"
DID_NOT_COMPLETE = ("The hospital sign-in did not complete (it was cancelled, or this page was opened twice). "
                    "Start again from the login page.")
UNREACHABLE = "The hospital's sign-in service could not be reached or answered with an error. Try again later."
# The discovery document's names of the endpoints each setting may leave to it.
DISCOVERED = {"OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint", "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
              "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint", "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
              "OIDC_OP_ISSUER": "issuer"}


def sign_in_enabled() -> bool:
    return bool(settings.OIDC_RP_CLIENT_ID)


class ProviderUnreachable(Exception):
    """The provider's discovery document could not be read."""


_discovery_lock = threading.Lock()
_discovered: dict[str, dict[str, Any]] = {}


def provider_setting(name: str) -> str:
    """An endpoint (or the issuer) of the provider: the setting when it is set, else the
    discovery document's, read once per process and URL."""
    explicit = getattr(settings, name, "")
    url = settings.OIDC_OP_DISCOVERY_URL
    if explicit or not url:
        return explicit
    with _discovery_lock:
        if url not in _discovered:
            try:
                answer = requests.get(url, timeout=settings.OIDC_TIMEOUT)
                answer.raise_for_status()
                document = answer.json()
            except (requests.RequestException, ValueError) as exc:
                raise ProviderUnreachable(f"{url}: {exc}") from None
            if not isinstance(document, dict) or not all(isinstance(document.get(key), str)
                                                          for key in DISCOVERED.values()):
                raise ProviderUnreachable(f"{url}: not an OpenID Connect discovery document")
            _discovered[url] = document
        return _discovered[url][DISCOVERED[name]]


def _claim_holds(value: Any, wanted: str) -> bool:
    if isinstance(value, list | tuple):
        return any(_claim_holds(item, wanted) for item in value)
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    return isinstance(value, str | int) and str(value) == wanted


def claims_role(claims: dict) -> str | None:
    """The highest role the claims give (admin, researcher, clinician), by the rules the
    deployment set; None when they give none."""
    rules = settings.EVALPORTAL_OIDC_ROLE_CLAIMS
    return next((role for role in ROLES_BY_RANK if role in rules and _claim_holds(claims.get(rules[role][0]),
                                                                                 rules[role][1])), None)


def email_vouched_for(claims: dict) -> bool:
    verified = claims.get(settings.EVALPORTAL_OIDC_EMAIL_VERIFIED_CLAIM)
    return verified is True or (isinstance(verified, str) and verified.lower() == "true")


class HospitalSignInBackend(OIDCAuthenticationBackend, RoleAwareModelBackend):
    """mozilla-django-oidc's backend, answering only the callback view's call (the only one
    with a ``nonce``), so a password login never reaches the provider; users are loaded as
    the password backend loads them, with their role in one query."""

    get_user = RoleAwareModelBackend.get_user

    def __init__(self, *args, **kwargs):
        # Django builds every backend for every login, password logins too; the provider's
        # endpoints are read only when a hospital sign-in comes back.
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or "username" in kwargs or not sign_in_enabled():
            return None
        self.OIDC_OP_TOKEN_ENDPOINT = provider_setting("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = provider_setting("OIDC_OP_USER_ENDPOINT")
        self.OIDC_OP_JWKS_ENDPOINT = provider_setting("OIDC_OP_JWKS_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        return super().authenticate(request, **kwargs)

    def get_or_create_user(self, access_token, id_token, payload):
        from annotations.errors import SignInRefused
        from annotations.services.users import user_hospital_sign_in

        try:
            return user_hospital_sign_in(**self._sign_in(self._claims(access_token, id_token, payload)))
        except SignInRefused as exc:
            setattr(self.request, REFUSAL, str(exc))
            logger.info("hospital sign-in refused: %s", exc)
            return None

    def _claims(self, access_token, id_token, payload) -> dict:
        """The ID token's claims with the user info's over them, once both are known to
        be about the same person, from this provider, for this portal."""
        from annotations.errors import SignInRefused

        audience = payload.get("aud")
        audience = audience if isinstance(audience, list) else [audience]
        issuer = provider_setting("OIDC_OP_ISSUER")
        if settings.OIDC_RP_CLIENT_ID not in audience or (issuer and payload.get("iss") != issuer):
            raise SignInRefused("The hospital's sign-in answered with a token meant for another site.")
        user_info = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(user_info, dict) or user_info.get("sub") != payload.get("sub"):
            # OpenID Connect Core 5.3.2: user info about anyone else must not be used.
            raise SignInRefused("The hospital's sign-in answered about two different people.")
        return {**payload, **user_info}

    @staticmethod
    def _sign_in(claims: dict) -> dict:
        from annotations.errors import SignInRefused

        role = claims_role(claims)
        if role is None:
            raise SignInRefused("Your hospital account does not give you a role in this portal: it is open to the "
                                "clinicians the research team has asked to rate. If you are one of them, ask the "
                                "research team to have you added.")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise SignInRefused("Your hospital account has no email address, which the portal needs to know you.")
        if not email_vouched_for(claims):
            raise SignInRefused(f"Your hospital has not verified the address {email}, so the portal cannot tell "
                                "that it is yours. Ask your hospital's IT to verify it, or log in with a password.")
        names = {key: value for key, value in (("first_name", claims.get("given_name")),
                                               ("last_name", claims.get("family_name"))) if isinstance(value, str)}
        return {"email": email, "role": role, **names}


def axes_leaves_alone(request, credentials) -> bool:
    """django-axes' whitelist: the hospital sign-in's callback (see AXES_WHITELIST_CALLABLE)."""
    return bool(credentials) and "nonce" in credentials and not credentials.get("username")


def _refused(request, reason: str, status: int) -> HttpResponse:
    return render(request, "registration/hospital_sign_in_refused.html", {"reason": reason}, status=status)


class SignInStart(OIDCAuthenticationRequestView):
    """Sends the browser to the provider, with the page it came for kept for after."""

    def __init__(self, **kwargs):
        View.__init__(self, **kwargs)  # the provider's endpoint is read per request, below

    def get(self, request):
        if not sign_in_enabled():
            raise Http404("Hospital sign-in is not set up here.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnreachable as exc:
            logger.warning("hospital sign-in: %s", exc)
            return _refused(request, UNREACHABLE, 503)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class SignInCallback(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: signed in, or a page saying why not."""

    def get(self, request):
        if not sign_in_enabled():
            raise Http404("Hospital sign-in is not set up here.")
        try:
            return super().get(request)
        except (requests.RequestException, ProviderUnreachable) as exc:
            logger.warning("hospital sign-in: the provider failed: %s", exc)
            return _refused(request, UNREACHABLE, 502)

    def login_failure(self):
        reason = getattr(self.request, REFUSAL, None)
        return _refused(self.request, reason or DID_NOT_COMPLETE, 403 if reason else 400)


class LoginView(auth_views.LoginView):
    """Django's login page, with the hospital's button when hospital sign-in is set up."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["hospital_sign_in_label"] = settings.EVALPORTAL_OIDC_LABEL if sign_in_enabled() else ""
        return context
