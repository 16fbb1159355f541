"""A clinician's cases by study: the next one of a study, what they submitted, read-only,
and its correction. Only the case's own rater reaches a submitted case or its correction;
anyone else gets a 404 (NotFound from ``assignment_for_rater``), which says nothing of
whether the case exists."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotations.errors import StateConflict
from annotations.rating_input import MAX_TEXT
from annotations.selectors.my_cases import submitted_case
from annotations.selectors.rating import assignment_for_rater, rating_form_rows, study_for_rater
from annotations.services.rating import IncompleteRating, assignment_next, submission_revise
from evalportal.roles import CLINICIAN, role_required


@role_required(CLINICIAN)
@require_GET
def next_in_study(request, study_id):
    """The rater's next case of one study (My cases offers one per study), or back to
    that study on My cases when none waits there."""
    study = study_for_rater(study_id=study_id, rater=request.user)
    assignment = assignment_next(rater=request.user, study_id=study.pk)
    if assignment is None:
        messages.info(request, f"No case of {study.name} is waiting for you now.")
        return redirect(f"{reverse('rater-queue')}#study-{study.pk}")
    return redirect("rate-case", assignment_id=assignment.pk)


def _submitted_assignment(request, assignment_id):
    """The rater's own assignment, or None while it is not submitted (its rating page
    is then the place to go)."""
    assignment = assignment_for_rater(assignment_id=assignment_id, rater=request.user)
    return assignment if assignment.status == assignment.Status.SUBMITTED else None


@role_required(CLINICIAN)
@require_GET
def submitted(request, assignment_id):
    assignment = _submitted_assignment(request, assignment_id)
    if assignment is None:
        return redirect("rate-case", assignment_id=assignment_id)
    return render(request, "annotations/my_cases_submitted.html", {"case": submitted_case(assignment)})


def _correction_form(request, case, values, *, errors=None, refusal="", status=200):
    context = {"case": case, "page": case.page, "rows": rating_form_rows(case.page, values), "errors": errors or {},
               "comment": values.get("comment", ""), "reason": values.get("reason", ""), "refusal": refusal,
               "base_revision": values.get("base_revision", case.current_revision), "max_text": MAX_TEXT,
               "correction": True, "form_action": reverse("rater-correct-case", args=[case.page.assignment_id])}
    return render(request, "annotations/my_cases_correct.html", context, status=status)


def _base_revision(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@role_required(CLINICIAN)
def correct(request, assignment_id):
    """The rating form filled with the current answers and a reason to give; posted, a new
    revision. A refusal shows the form again as posted, with why."""
    assignment = _submitted_assignment(request, assignment_id)
    if assignment is None:
        return redirect("rate-case", assignment_id=assignment_id)
    case = submitted_case(assignment)
    if request.method != "POST":
        if case.correct_refusal:
            messages.warning(request, case.correct_refusal)
            return redirect("rater-submitted-case", assignment_id=assignment.pk)
        return _correction_form(request, case, case.values)
    try:
        revision = submission_revise(assignment=assignment, actor=request.user, data=request.POST,
                                     reason=request.POST.get("reason", ""),
                                     base_revision=_base_revision(request.POST.get("base_revision")),
                                     active_seconds=request.POST.get("active_seconds"))
    except IncompleteRating as exc:
        return _correction_form(request, case, request.POST, errors=exc.parsed.errors, status=400)
    except StateConflict as exc:  # the study closed, or the rater was paused, or it was corrected meanwhile
        return _correction_form(request, case, request.POST, refusal=str(exc), status=exc.status)
    messages.success(request, f"Your correction is saved (revision {revision.revision}).")
    return redirect("rater-submitted-case", assignment_id=assignment.pk)
