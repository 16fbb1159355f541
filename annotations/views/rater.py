"""Clinician pages. Thin: services do the writes, selectors build what is shown."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotations.errors import InvalidRequest
from annotations.rating_input import MAX_TEXT
from annotations.selectors.rating import assignment_for_rater, rater_queue_summary, rating_form_rows, rating_page
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
    return render(request, "annotations/rater_queue.html", {"summary": rater_queue_summary(request.user)})


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
               "comment": values.get("comment", ""), "max_text": MAX_TEXT}
    return render(request, "annotations/rate_case.html", context, status=status)


@role_required(CLINICIAN)
@require_GET
def rate_case(request, assignment_id):
    assignment = assignment_for_rater(assignment_id=assignment_id, rater=request.user)
    if assignment.status == assignment.Status.SUBMITTED:
        return redirect("rater-next")
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
    if not saved:
        return JsonResponse({"saved": False, "reason": "already submitted"}, status=409)
    return JsonResponse({"saved": True})


@role_required(CLINICIAN)
@require_POST
def submit(request, assignment_id):
    assignment = assignment_for_rater(assignment_id=assignment_id, rater=request.user)
    try:
        assignment_submit(assignment=assignment, rater=request.user, data=request.POST,
                          active_seconds=request.POST.get("active_seconds"),
                          idempotency_key=request.POST.get("idempotency_key", ""))
    except IncompleteRating as exc:
        return rating_page_response(request, assignment, request.POST, errors=exc.parsed.errors, status=400)
    return redirect("rater-next")
