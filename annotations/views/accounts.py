"""Accounts: invitations, and Django's own password views with the portal's templates.
Django's views check the tokens and validate the passwords; the writes go through
services, so each is one transaction with its audit event."""

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse_lazy

from annotations.errors import DomainError
from annotations.forms import InvitationCSVForm, InvitationForm, errors_text
from annotations.invitation_tokens import invitation_token_generator
from annotations.selectors.invitations import invitation_list
from annotations.services.invitations import invitation_accept, invitations_create
from annotations.services.users import password_reset_mail_claim, user_password_set, user_token_revoke
from evalportal.roles import ADMIN, RESEARCHER, role_required


@role_required(RESEARCHER, ADMIN)
def invitations(request):
    """Invite one clinician or a CSV of them; the links are shown here once, to copy."""
    sent, one, many = [], InvitationForm(prefix="one"), InvitationCSVForm(prefix="csv")
    status = 200
    if request.method == "POST":
        form = (InvitationCSVForm(request.POST, request.FILES, prefix="csv") if "csv-submit" in request.POST
                else InvitationForm(request.POST, prefix="one"))
        if not form.is_valid():
            messages.error(request, "Nobody was invited: " + errors_text(form))
            status = 400
        else:
            try:
                sent = invitations_create(people=form.people(), actor=request.user,
                                          base_url=request.build_absolute_uri("/"))
            except DomainError as exc:
                messages.error(request, str(exc))
                status = exc.status
            else:
                messages.success(request, f"Invited {len(sent)} clinician{'s' if len(sent) != 1 else ''}.")
        if isinstance(form, InvitationForm):
            one = form if status == 400 else one
        else:
            many = form if status == 400 else many
    return render(request, "accounts/invitations.html", {
        "sent": sent, "one_form": one, "csv_form": many, "invitations": invitation_list()}, status=status)


class InvitationAcceptView(auth_views.PasswordResetConfirmView):
    """The invitation link: Django's reset-confirm view with the invitation's own token.
    Every link that does not work gets the same page, whatever the reason."""

    token_generator = invitation_token_generator
    template_name = "accounts/invitation_accept.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form):
        try:
            invitation_accept(user=self.user, password=form.cleaned_data["new_password1"])
        except DomainError:
            # The account changed since the link was opened (a role given, a password set).
            self.validlink = False
        del self.request.session[INTERNAL_RESET_SESSION_TOKEN]
        if not self.validlink:
            return self.render_to_response(self.get_context_data())
        messages.success(self.request, f"Your password is set. Log in as {self.user.username}.")
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, with at most PASSWORD_RESET_MAILS_PER_HOUR mails to one
    address an hour; past that no mail goes, and the page says what it always says."""

    def form_valid(self, form):
        if password_reset_mail_claim(email=form.cleaned_data["email"]):
            return super().form_valid(form)
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        user_password_set(user=self.user, password=form.cleaned_data["new_password1"], how="reset")
        del self.request.session[INTERNAL_RESET_SESSION_TOKEN]
        return HttpResponseRedirect(self.get_success_url())


class PasswordChangeView(auth_views.PasswordChangeView):
    """The password form, and the user's API token: the button of its section posts here
    with ``token-revoke``."""

    def post(self, request, *args, **kwargs):
        if "token-revoke" in request.POST:
            if user_token_revoke(user=request.user):
                messages.success(request, "Your API token is revoked; scripts that used it are refused from now on.")
            else:
                messages.info(request, "You had no API token.")
            return HttpResponseRedirect(request.path)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user_password_set(user=self.request.user, password=form.cleaned_data["new_password1"], how="change")
        update_session_auth_hash(self.request, self.request.user)  # stay logged in here, out elsewhere
        return HttpResponseRedirect(self.get_success_url())
