"""Clinician pages. Thin: services do the writes, selectors build what is shown."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotations.errors import InvalidRequest, StudyNotOpen
from annotations.models.study import rating_refusal
from annotations.rating_input import MAX_TEXT
from annotations.selectors.rating import (
    assignment_for_rater,
    onboarding_step,
    rater_closed_notices,
    rater_queue_summary,
    rating_form_rows,
    rating_page,
    study_for_rater,
)
from annotations.services.raters import study_rater_acknowledge_instructions
from annotations.services.rating import (
    IncompleteRating,
    assignment_next,
    assignment_open,
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
    return render(request, "annotations/rater_queue.html", {"summary": rater_queue_summary(request.user),
                                                            "closed": rater_closed_notices(request.user)})


@role_required(CLINICIAN)
def next_case(request):
    assignment = assignment_next(rater=request.user)
    if assignment is None:
        return redirect("rater-done")
    return redirect("rate-case", assignment_id=assignment.pk)


@role_required(CLINICIAN)
@require_GET
def done(request):
    return render(request, "annotations/rater_done.html", {"summary": rater_queue_summary(request.user)})


def rating_page_response(request, assignment, values, errors=None, status=200):
    """The rating page of ``assignment`` with the form filled from ``values`` (a draft or
    a refused submission) and ``errors`` marked."""
    page = rating_page(assignment)
    context = {"page": page, "rows": rating_form_rows(page, values), "errors": errors or {},
               "comment": values.get("comment", ""), "max_text": MAX_TEXT,
               "form_action": reverse("rate-submit", args=[page.assignment_id]),
               "draft_url": reverse("rate-draft", args=[page.assignment_id])}
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


@role_required(CLINICIAN)
@require_GET
def rate_case(request, assignment_id):
    assignment = assignment_for_rater(assignment_id=assignment_id, rater=request.user)
    if assignment.status == assignment.Status.SUBMITTED:
        return redirect("rater-next")
    detour = _not_ready(assignment)
    if isinstance(detour, str):
        return render(request, "annotations/study_closed.html", {"message": detour}, status=409)
    if detour is not None:
        return detour
    assignment_open(assignment=assignment)
    return rating_page_response(request, assignment, assignment.draft or {})


@role_required(CLINICIAN)
@require_POST
def save_draft(request, assignment_id):
    assignment = assignment_for_rater(assignment_id=assignment_id, rater=request.user)
    try:
        saved = assignment_save_draft(assignment=assignment, data=request.POST,
                                      active_seconds=request.POST.get("active_seconds"))
    except InvalidRequest as exc:
        return JsonResponse({"saved": False, "reason": str(exc)}, status=400)
    except StudyNotOpen as exc:
        return JsonResponse({"saved": False, "reason": str(exc)}, status=exc.status)
    if not saved:
        return JsonResponse({"saved": False, "reason": "already submitted"}, status=409)
    return JsonResponse({"saved": True})


@role_required(CLINICIAN)
@require_POST
def submit(request, assignment_id):
    assignment = assignment_for_rater(assignment_id=assignment_id, rater=request.user)
    detour = _not_ready(assignment)
    if isinstance(detour, str):
        return render(request, "annotations/study_closed.html", {"message": detour}, status=409)
    if detour is not None:
        return detour
    try:
        assignment_submit(assignment=assignment, rater=request.user, data=request.POST,
                          active_seconds=request.POST.get("active_seconds"),
                          idempotency_key=request.POST.get("idempotency_key", ""))
    except IncompleteRating as exc:
        return rating_page_response(request, assignment, request.POST, errors=exc.parsed.errors, status=400)
    return redirect("rater-next")


@role_required(CLINICIAN)
def instructions(request, study_id):
    """A study's instructions in full; the rater acknowledges them once, before their first case."""
    study = study_for_rater(study_id=study_id, rater=request.user)
    if request.method == "POST":
        study_rater_acknowledge_instructions(study=study, rater=request.user)
        return redirect("rater-next")
    return render(request, "annotations/rater_instructions.html", {"study": study})
