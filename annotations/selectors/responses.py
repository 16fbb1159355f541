"""Which responses count: an arm may have answered a case several times (a job rerun, a
new adapter); the newest answer is the one clinicians rate, the judge judges, the
automatic metrics score and the responses page shows."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet

from annotations.models import Case, Response, Study, StudyArm


def newest_responses(study: Study, *, arm_ids: Iterable[int] | None = None,
                     split: str | None = Case.Split.TEST) -> QuerySet[Response]:
    """The newest response (latest ``created_at``, then highest id) of each arm to each
    case of ``study``: the study's arms unless ``arm_ids`` names others, cases of
    ``split`` (every split when None)."""
    if arm_ids is None:
        arm_ids = StudyArm.objects.filter(study=study).values("arm_id")
    newer = Response.objects.filter(case_id=OuterRef("case_id"), arm_id=OuterRef("arm_id")).filter(
        Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), id__gt=OuterRef("id")))
    responses = Response.objects.filter(case__study=study, arm_id__in=arm_ids).exclude(Exists(newer))
    return responses.filter(case__split=split) if split is not None else responses


def response_keys_of_cases(case_ids: Iterable[int]) -> set[tuple[int, int, int | None]]:
    """(case id, arm id, job id) of every response to the cases, whatever the arm.

    Filtered on the cases alone on purpose: while a job writes thousands of responses a
    second, PostgreSQL's statistics still count its job and arm as rare, and a filter on
    either lets the planner pick that column's index and read every response the job has
    written so far, each chunk slower than the last."""
    return set(Response.objects.filter(case_id__in=case_ids).order_by().values_list("case_id", "arm_id", "job_id"))


def response_texts(response_ids: Iterable[int]) -> dict[int, str]:
    """Response id -> its text, for the responses named (one query)."""
    return dict(Response.objects.filter(pk__in=list(response_ids)).values_list("pk", "text"))


def response_arms(response_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """Response id -> (arm id, arm name), for the responses named (one query; unblinded)."""
    return {pk: (arm_id, name) for pk, arm_id, name in
            Response.objects.filter(pk__in=list(response_ids)).values_list("pk", "arm_id", "arm__name")}


def responses_for_team() -> QuerySet[Response]:
    """Every response, unblinded, with its case's study and its arm (researchers and admins)."""
    return Response.objects.select_related("case__study", "arm").order_by("id")
