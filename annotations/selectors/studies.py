from __future__ import annotations

from django.db.models import Count, Prefetch, Q

from annotations.errors import NotFound
from annotations.ids import id_or_not_found
from annotations.models import Assignment, Case, Rating, Study, StudyAnalysis, StudyArm
from annotations.selectors.arms import study_arm_ids


def study_get(slug: str) -> Study:
    """The study called ``slug``; NotFound otherwise."""
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise NotFound("No such study.")
    return study


def study_analysis(study: Study) -> StudyAnalysis | None:
    """The stored result of the study's last aggregation, if any."""
    return StudyAnalysis.objects.filter(study=study).first()


def rating_sample(study: Study):
    """The test cases drawn for the clinicians to rate."""
    return study.cases.filter(split=Case.Split.TEST, in_rating_sample=True, role=Case.Role.STUDY)


def rating_sample_makeup(study: Study) -> dict:
    """The rating sample beside all test cases, by task, category and gold label."""
    tests = study.cases.filter(split=Case.Split.TEST)
    rows = (tests.values("task", "category", "gold_label")
            .annotate(n_test=Count("id"), n_sample=Count("id", filter=Q(in_rating_sample=True)))
            .order_by("category", "task", "gold_label"))
    rows = list(rows)
    return {"rows": rows, "n_test": sum(r["n_test"] for r in rows), "n_sample": sum(r["n_sample"] for r in rows)}


def all_studies():
    """Every study (newest first), for a choice among them: a form's, a request's slug."""
    return Study.objects.all()


def studies_with_case_count():
    """Every study with ``n_cases``, the number of its cases of every split (the admin's list)."""
    return Study.objects.annotate(n_cases=Count("cases"))


def cases_for_team():
    """Every case, unblinded, with its study (researchers and admins)."""
    return Case.objects.select_related("study").order_by("id")


def cases_by_study(cases) -> dict[Study, list[Case]]:
    """The cases of a queryset grouped by their study (each study read once)."""
    by_study: dict[Study, list[Case]] = {}
    for case in cases.select_related("study"):
        by_study.setdefault(case.study, []).append(case)
    return by_study


def study_cases_by_external_id(study: Study, external_ids) -> dict[str, Case]:
    """The study's cases among ``external_ids``, by external id (those it lacks are absent)."""
    return {case.external_id: case for case in study.cases.filter(external_id__in=list(external_ids))}


def study_tasks(study: Study) -> list[str]:
    """The task types the study's cases have, in order."""
    return list(study.cases.order_by("task").values_list("task", flat=True).distinct())


def studies_with_arms():
    """Every study, newest first, each with its arms in their order (the research team's
    list; drafts too)."""
    return Study.objects.prefetch_related(
        Prefetch("study_arms", queryset=StudyArm.objects.select_related("arm").order_by("position", "id"))
    ).order_by("-created_at", "-id")


def assignments_for_team():
    """Every assignment, unblinded, for researchers and admins; a rater's own are
    ``selectors.raters.rater_assignments``."""
    return Assignment.objects.select_related("study", "case", "rater").order_by("study_id", "queue_position", "id")


def ratings_for_team():
    """Every rating, unblinded, with its submission, assignment, case, rater, response, arm
    and harm decision (researchers and admins)."""
    return Rating.objects.select_related(
        "submission__assignment__study", "submission__assignment__case", "submission__assignment__rater",
        "submission__submitted_by", "response__arm", "response__case", "harm_decision__decided_by",
    ).order_by("id")


def study_overview():
    return Study.objects.annotate(
        n_cases=Count("cases", filter=Q(cases__split="test"), distinct=True),
        n_arms=Count("study_arms", distinct=True),
    ).order_by("-created_at")


def study_progress(study: Study) -> dict:
    """Rating-sample cases x raters done, and per-rater counts."""
    n_cases = rating_sample(study).count()
    needed = n_cases * study.raters_per_item
    # Gold cases are extra work on top of the k ratings each sample case needs.
    per_rater = list(
        Assignment.objects.filter(study=study, case__role=Case.Role.STUDY)
        .values("rater__username")
        .annotate(assigned=Count("id"), submitted=Count("id", filter=Q(status=Assignment.Status.SUBMITTED)))
        .order_by("rater__username")
    )
    submitted = sum(r["submitted"] for r in per_rater)
    return {
        "cases": n_cases, "raters_per_item": study.raters_per_item, "needed": needed,
        "submitted": submitted, "percent": round(100 * submitted / needed, 1) if needed else 0.0,
        "per_rater": per_rater,
    }


def study_rater_user(user_id):
    """A clinician's account by id; NotFound for anyone else."""
    from django.contrib.auth import get_user_model

    from evalportal.roles import CLINICIAN

    user_id = id_or_not_found(user_id, "No such rater.")
    user = get_user_model().objects.filter(pk=user_id, groups__name=CLINICIAN).first()
    if user is None:
        raise NotFound("No such rater.")
    return user


def case_expected_form(study: Study, case_id) -> dict:
    """A case with its newest response of each arm (unblinded) and the expected-answer
    fields of each, for the page where the team marks practice and gold cases."""
    from annotations.selectors.responses import newest_responses

    case = study.cases.filter(pk=id_or_not_found(case_id, "No such case in this study.")).first()
    if case is None:
        raise NotFound("No such case in this study.")
    arm_ids = study_arm_ids(study)
    responses = list(newest_responses(study, arm_ids=arm_ids).filter(case=case).select_related("arm").order_by("id"))
    expected = case.expected or {}
    rows = []
    for response in responses:
        want = (expected.get("ratings") or {}).get(str(response.pk), {})
        dims = [{"dim": d, "name": f"e{response.pk}_{d['key']}", "value": str(want.get(d["key"], "")),
                 "options": ([str(v) for v in range(d["min"], d["max"] + 1)] if d["scale"] == "likert"
                             else [c[0] for c in d["choices"]])}
                for d in study.rubric if d["scale"] in ("likert", "categorical")]
        rows.append({"response": response, "dims": dims, "rank_name": f"e{response.pk}_rank",
                     "rank": str((expected.get("ranks") or {}).get(str(response.pk), "")),
                     "rank_options": [str(r) for r in range(1, len(responses) + 1)]})
    return {"case": case, "rows": rows, "explanation": expected.get("explanation", "")}


def study_special_cases(study: Study):
    """The study's practice and gold cases."""
    return study.cases.exclude(role=Case.Role.STUDY).order_by("role", "id")
