from __future__ import annotations

from django.db.models import Count, Q

from annotations.errors import NotFound
from annotations.models import Assignment, Study, StudyAnalysis


def study_get(slug: str) -> Study:
    """The study called ``slug``; NotFound otherwise."""
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise NotFound("No such study.")
    return study


def study_analysis(study: Study) -> StudyAnalysis | None:
    """The stored result of the study's last aggregation, if any."""
    return StudyAnalysis.objects.filter(study=study).first()


def study_overview():
    return Study.objects.annotate(
        n_cases=Count("cases", filter=Q(cases__split="test"), distinct=True),
        n_arms=Count("study_arms", distinct=True),
    ).order_by("-created_at")


def study_progress(study: Study) -> dict:
    """Cases x raters done, and per-rater counts."""
    n_cases = study.cases.filter(split="test").count()
    needed = n_cases * study.raters_per_item
    per_rater = list(
        Assignment.objects.filter(study=study)
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
