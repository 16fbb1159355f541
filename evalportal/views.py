from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect

from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER, user_role


@login_required
def home(request):
    """Send each role where it works."""
    role = user_role(request.user)
    if role == CLINICIAN:
        return redirect("rater-queue")
    if role in (RESEARCHER, ADMIN):
        return redirect("study-list")
    return redirect("no-role")


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")
