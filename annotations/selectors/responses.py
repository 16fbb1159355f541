"""Which responses count: an arm may have answered a case several times (a job rerun, a
new adapter); the newest answer is the one clinicians rate, the judge judges, the
automatic metrics score and the responses page shows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from annotations.models import Case, GenerationFailure, GenerationJob, Response, Study, StudyArm
from annotations.models.response import FINISH_LENGTH


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


@dataclass(frozen=True)
class TokenLimitCount:
    """Of a group of responses: how many were cut at the token limit, of those whose
    finish reason was recorded (older responses have none), and how many in all."""

    cut: int
    recorded: int
    total: int


def token_limit_counts(study: Study, arm_ids: Iterable[int]) -> tuple[dict, list[dict]]:
    """How many responses hit max_new_tokens: per arm, of its newest responses to the test
    cases (what the responses page shows), ``{arm id: TokenLimitCount}``; and per
    generation job of the study, newest job first, ``{"job_id", "arm_name",
    "max_new_tokens", "count"}``. Three queries."""
    def grouped(responses: QuerySet[Response], *fields: str):
        return responses.order_by().values(*fields).annotate(
            total=Count("pk"), recorded=Count("pk", filter=~Q(finish_reason="")),
            cut=Count("pk", filter=Q(finish_reason=FINISH_LENGTH)))

    per_arm = {row["arm_id"]: TokenLimitCount(row["cut"], row["recorded"], row["total"])
               for row in grouped(newest_responses(study, arm_ids=arm_ids), "arm_id")}
    jobs = list(grouped(Response.objects.filter(job__study=study), "job_id", "arm__name").order_by("-job_id"))
    decoding = dict(GenerationJob.objects.filter(pk__in=[row["job_id"] for row in jobs])
                    .values_list("pk", "decoding_params"))
    per_job = [{"job_id": row["job_id"], "arm_name": row["arm__name"],
                "max_new_tokens": (decoding.get(row["job_id"]) or {}).get("max_new_tokens"),
                "count": TokenLimitCount(row["cut"], row["recorded"], row["total"])} for row in jobs]
    return per_arm, per_job


def responses_for_team() -> QuerySet[Response]:
    """Every response, unblinded, with its case's study and its arm (researchers and admins)."""
    return Response.objects.select_related("case__study", "arm").order_by("id")


@dataclass(frozen=True)
class Unanswered:
    """A generation job's cases the server refused for good (stored failures): how many,
    and the first one's case and message."""

    count: int
    first_case: str
    first_message: str


def generation_unanswered(job_ids: Iterable[int]) -> dict[int, Unanswered]:
    """``{job id: Unanswered}`` for the jobs named that have stored failures (one query,
    and one more per such job)."""
    counts = (GenerationFailure.objects.filter(job_id__in=list(job_ids)).order_by().values("job_id")
              .annotate(n=Count("pk")).values_list("job_id", "n"))
    return {job_id: Unanswered(n, *GenerationFailure.objects.filter(job_id=job_id).order_by("case_id")
                               .values_list("case__external_id", "message")[0])
            for job_id, n in counts}


def unanswered_case_ids(job: GenerationJob, case_ids: Iterable[int]) -> set[int]:
    """Of ``case_ids``, those the job stored a lasting failure for."""
    return set(GenerationFailure.objects.filter(job=job, case_id__in=list(case_ids)).values_list("case_id", flat=True))
