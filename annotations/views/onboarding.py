"""A rater's onboarding pages in a study: consent, practice cases and their feedback."""

from django.shortcuts import redirect, render
from django.urls import reverse

from annotations.errors import DomainError
from annotations.rating_input import MAX_TEXT
from annotations.selectors.onboarding import (
    practice_attempt,
    practice_case_for_rater,
    practice_feedback,
    practice_next,
    practice_page,
)
from annotations.selectors.rating import rating_form_rows, study_for_rater
from annotations.services.onboarding import IncompletePractice, practice_attempt_record, study_rater_consent
from evalportal.roles import CLINICIAN, role_required


@role_required(CLINICIAN)
def consent(request, study_id):
    study = study_for_rater(study_id=study_id, rater=request.user)
    error = None
    if request.method == "POST":
        try:
            study_rater_consent(study=study, rater=request.user, agreed=request.POST.get("agree") == "yes")
        except DomainError as exc:
            error = str(exc)
        else:
            return redirect("rater-next")
    return render(request, "annotations/rater_consent.html", {"study": study, "error": error},
                  status=400 if error else 200)


def _practice_form(request, study, case, values, errors=None, status=200):
    page = practice_page(study=study, case=case, rater=request.user)
    return render(request, "annotations/rate_case.html", {
        "page": page, "rows": rating_form_rows(page, values), "errors": errors or {}, "practice": True, "study": study,
        "comment": values.get("comment", ""), "max_text": MAX_TEXT,
        "form_action": reverse("rater-practice-case", args=[study.pk, case.pk])}, status=status)


@role_required(CLINICIAN)
def practice(request, study_id):
    """The next practice case, or on to rating when none is left."""
    study = study_for_rater(study_id=study_id, rater=request.user)
    case = practice_next(study=study, rater=request.user)
    if case is None:
        return redirect("rater-next")
    return redirect("rater-practice-case", study_id=study.pk, case_id=case.pk)


@role_required(CLINICIAN)
def practice_case(request, study_id, case_id):
    study = study_for_rater(study_id=study_id, rater=request.user)
    case = practice_case_for_rater(study=study, case_id=case_id)
    if request.method != "POST":
        return _practice_form(request, study, case, {})
    try:
        practice_attempt_record(study=study, case=case, rater=request.user, data=request.POST)
    except IncompletePractice as exc:
        return _practice_form(request, study, case, request.POST, errors=exc.parsed.errors, status=400)
    return redirect("rater-practice-feedback", study_id=study.pk, case_id=case.pk)


@role_required(CLINICIAN)
def practice_feedback_page(request, study_id, case_id):
    study = study_for_rater(study_id=study_id, rater=request.user)
    case = practice_case_for_rater(study=study, case_id=case_id)
    attempt = practice_attempt(study=study, case=case, rater=request.user)
    return render(request, "annotations/practice_feedback.html", {
        "study": study, "feedback": practice_feedback(attempt, study),
        "more": practice_next(study=study, rater=request.user) is not None})
