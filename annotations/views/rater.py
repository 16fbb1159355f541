"""Clinician pages. Thin: services do the writes, selectors build what is shown."""

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotations.errors import InvalidRequest, NotFound, StateConflict, StudyNotOpen
from annotations.models.study import rating_refusal
from annotations.rating_input import MAX_TEXT, typed_texts
from annotations.selectors.my_cases import rater_studies, rater_study_progress, study_name_for_rater
from annotations.selectors.rater_access import onboarding_step
from annotations.selectors.rating import (
    assignment_for_rater,
    rater_closed_notices,
    rater_queue_summary,
    rating_form_rows,
    rating_page,
    study_for_rater,
)
from annotations.services.raters import study_rater_acknowledge_instructions
from annotations.services.rating import (
    AssignmentGone,
    IncompleteRating,
    assignment_next,
    assignment_open,
    assignment_reclaim,
    assignment_save_draft,
    assignment_submit,
)
from evalportal.roles import CLINICIAN, role_required


@login_required
def no_role(request):
    return render(request, "no_role.html", status=403)


@role_required(CLINICIAN)
@require_GET
def queue(request):
    return render(request, "annotations/rater_queue.html", {
        "summary": rater_queue_summary(request.user), "closed": rater_closed_notices(request.user),
        "studies": rater_studies(request.user, study_id=request.GET.get("study"), page=request.GET.get("page"))})


@role_required(CLINICIAN)
def next_case(request):
    assignment = assignment_next(rater=request.user)
    if assignment is None:
        return redirect("rater-done")
    return redirect("rate-case", assignment_id=assignment.pk)


@role_required(CLINICIAN)
@require_GET
def done(request):
    return render(request, "annotations/rater_done.html", {"summary": rater_queue_summary(request.user),
                                                            "studies": rater_study_progress(request.user)})


def rating_page_response(request, assignment, values, errors=None, status=200):
    """The rating page of ``assignment`` with the form filled from ``values`` (a draft or
    a refused submission) and ``errors`` marked."""
    page = rating_page(assignment)
    context = {"page": page, "rows": rating_form_rows(page, values), "errors": errors or {},
               "comment": values.get("comment", ""), "max_text": MAX_TEXT,
               "form_action": reverse("rate-submit", args=[page.assignment_id]),
               "draft_url": reverse("rate-draft", args=[page.assignment_id]),
               "login_url": _login_url(page.assignment_id, page.shown)}
    return render(request, "annotations/rate_case.html", context, status=status)


ONBOARDING_PAGES = {"instructions": "rater-instructions", "consent": "rater-consent", "practice": "rater-practice"}


def _not_ready(assignment):
    """Where the rater goes instead of rating ``assignment``: a closed study's notice, an
    onboarding step still to do, or None when the case can be rated."""
    refusal = rating_refusal(assignment.study_status, assignment.study_closed_reason)
    if refusal:
        return refusal
    step = onboarding_step(assignment)
    if step is not None:
        return redirect(ONBOARDING_PAGES[step], study_id=assignment.study_id)
    return None


def _own_assignment(request, assignment_id, shown):
    """The rater's assignment; one that went back to the pool after its page was shown to
    them is claimed back (``shown``, the page's token) if nobody else took it."""
    try:
        return assignment_for_rater(assignment_id=assignment_id, rater=request.user)
    except NotFound:
        return assignment_reclaim(assignment_id=assignment_id, rater=request.user, shown=shown)


def _refused(request, assignment_id, template, message, status):
    """A page saying why the case cannot be rated here, with the texts the rater posted
    shown back to copy (or, on a page only opened, those their browser kept)."""
    typed = typed_texts(request.POST) if request.method == "POST" else []
    return render(request, template, {"message": message, "typed": typed, "posted": request.method == "POST",
                                      "assignment_id": assignment_id,
                                      "study_name": study_name_for_rater(assignment_id=assignment_id,
                                                                         rater=request.user)}, status=status)


def _rate_url(assignment_id, shown) -> str:
    url = reverse("rate-case", args=[assignment_id])
    return f"{url}?{urlencode({'shown': shown})}" if shown else url


def _login_url(assignment_id, shown) -> str:
    return f"{resolve_url('login')}?{urlencode({'next': _rate_url(assignment_id, shown)})}"


def _back_to_the_form_after_login(message: str = ""):
    """A post without a session (logged out, or the session ended while the page was
    open) is sent to log in and then back to the rating form, never to the URL it was
    posted to: that URL takes only POST, and the GET after login would be refused. The
    page's script does not follow the redirect (a draft not saved is never taken for one
    saved) and keeps what was typed until the form is back."""
    def decorator(view):
        @wraps(view)
        def wrapped(request, assignment_id):
            if not request.user.is_authenticated:
                if message:
                    messages.warning(request, message)
                return redirect_to_login(_rate_url(assignment_id, request.POST.get("shown")))
            return view(request, assignment_id)
        return wrapped
    return decorator


@role_required(CLINICIAN)
@require_GET
def rate_case(request, assignment_id):
    try:
        assignment = _own_assignment(request, assignment_id, request.GET.get("shown"))
    except AssignmentGone as exc:
        return _refused(request, assignment_id, "annotations/rater_case_gone.html", str(exc), exc.status)
    except StudyNotOpen as exc:
        return _refused(request, assignment_id, "annotations/study_closed.html", str(exc), exc.status)
    if assignment.status == assignment.Status.SUBMITTED:
        return redirect("rater-submitted-case", assignment_id=assignment.pk)
    detour = _not_ready(assignment)
    if isinstance(detour, str):
        return _refused(request, assignment_id, "annotations/study_closed.html", detour, 409)
    if detour is not None:
        return detour
    assignment_open(assignment=assignment)
    return rating_page_response(request, assignment, assignment.draft or {})


@_back_to_the_form_after_login()
@role_required(CLINICIAN)
@require_POST
def save_draft(request, assignment_id):
    try:
        assignment = _own_assignment(request, assignment_id, request.POST.get("shown"))
        saved = assignment_save_draft(assignment=assignment, data=request.POST,
                                      active_seconds=request.POST.get("active_seconds"))
    except InvalidRequest as exc:
        return JsonResponse({"saved": False, "reason": str(exc)}, status=400)
    except (StudyNotOpen, AssignmentGone) as exc:
        return JsonResponse({"saved": False, "reason": str(exc)}, status=exc.status)
    if not saved:
        return JsonResponse({"saved": False, "reason": "already submitted"}, status=409)
    return JsonResponse({"saved": True})


@_back_to_the_form_after_login("Your session had ended, so your answers were not submitted. Log in again: the "
                               "case opens with what you typed in this browser, ready to submit.")
@role_required(CLINICIAN)
@require_POST
def submit(request, assignment_id):
    try:
        assignment = _own_assignment(request, assignment_id, request.POST.get("shown"))
        detour = _not_ready(assignment)
        if isinstance(detour, str):
            return _refused(request, assignment_id, "annotations/study_closed.html", detour, 409)
        if detour is not None:
            return detour
        assignment_submit(assignment=assignment, rater=request.user, data=request.POST,
                          active_seconds=request.POST.get("active_seconds"),
                          idempotency_key=request.POST.get("idempotency_key", ""))
    except IncompleteRating as exc:
        return rating_page_response(request, assignment, request.POST, errors=exc.parsed.errors, status=400)
    except AssignmentGone as exc:
        return _refused(request, assignment_id, "annotations/rater_case_gone.html", str(exc), exc.status)
    except (StateConflict, InvalidRequest) as exc:
        return _refused(request, assignment_id, "annotations/study_closed.html", str(exc), exc.status)
    return redirect("rater-next")


@role_required(CLINICIAN)
def instructions(request, study_id):
    """A study's instructions in full; the rater acknowledges them once, before their first case."""
    study = study_for_rater(study_id=study_id, rater=request.user)
    if request.method == "POST":
        study_rater_acknowledge_instructions(study=study, rater=request.user)
        return redirect("rater-next")
    return render(request, "annotations/rater_instructions.html", {"study": study})
