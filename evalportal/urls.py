from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from annotations.views import accounts
from evalportal import oidc, views

admin.site.site_header = "evalportal administration"
admin.site.site_title = "evalportal admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page links; the icon is a static file.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
    path("accounts/login/", oidc.LoginView.as_view(), name="login"),
    # Hospital sign-in (OpenID Connect): 404 unless it is set up. mozilla-django-oidc reverses these names.
    path("accounts/hospital/start/", oidc.SignInStart.as_view(), name="oidc_authentication_init"),
    path("accounts/hospital/callback/", oidc.SignInCallback.as_view(), name="oidc_authentication_callback"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/change/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/password/reset/<uidb64>/<token>/", accounts.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/password/reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("accounts/invitation/<uidb64>/<token>/", accounts.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("accounts/invitations/", accounts.invitations, name="invitations"),
    path("admin/", admin.site.urls),
    path("api/", include("annotations.api.urls")),
    path("", include("annotations.urls")),
]
