"""Judge jobs (issue 8): queue, retry and cancel through the generation jobs' machinery
(:mod:`annotations.services.jobs`), write judge scores idempotently per
(job, response, dimension), and analyse them against the clinicians' ratings.

Judge output is researcher-only: nothing here is read by a clinician page."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from annotations.models import Case, Rating, Response, Study, StudyArm
from annotations.models.judge import JudgeComparison, JudgeJob, JudgeScore
from annotations.services import jobs as job_services
from annotations.services.jobs import JobStateError, QueueUnavailable

logger = logging.getLogger(__name__)

__all__ = [
    "JobStateError", "QueueUnavailable", "judge_analyse", "judge_comparisons_write", "judge_frames",
    "judge_job_cancel", "judge_job_queue", "judge_job_retry", "judge_pairs", "judge_responses_for",
    "judge_scores_write", "judge_setting",
]

DEFAULT_PARAMS = {"use_reference": False, "logprobs": "auto", "top_logprobs": 20, "n_samples": 10,
                  "temperature": 1.0, "concurrency": 4, "pairwise_dimensions": ["overall"]}
KINDS = (JudgeJob.Kind.LOCAL, JudgeJob.Kind.OPENAI)


def judge_setting(name: str, default: str = "") -> str:
    """A judge setting: Django settings first, then the environment (so a worker can be
    configured without touching settings.py), then ``default``."""
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, "")
    return value or default


# -- what a job judges ----------------------------------------------------------------------

def judge_responses_for(study: Study, arms: Iterable | None = None) -> list[int]:
    """Ids of the newest response of each study arm to each test case (what the
    clinicians compare)."""
    arm_ids = [a.pk if hasattr(a, "pk") else a for a in arms] if arms is not None else \
        list(StudyArm.objects.filter(study=study).values_list("arm_id", flat=True))
    newest: dict[tuple[int, int], int] = {}
    rows = (Response.objects.filter(case__study=study, case__split=Case.Split.TEST, arm_id__in=arm_ids)
            .order_by("case_id", "arm_id", "created_at", "id").values_list("case_id", "arm_id", "id"))
    for case_id, arm_id, response_id in rows:
        newest[(case_id, arm_id)] = response_id
    return sorted(newest.values())


def judge_pairs(responses: Sequence[Response], study: Study) -> list[tuple[Response, Response]]:
    """Each case's responses paired (i < j in the study's arm order), for pairwise
    comparison."""
    position = dict(StudyArm.objects.filter(study=study).values_list("arm_id", "position"))
    by_case: dict[int, list[Response]] = {}
    for response in responses:
        by_case.setdefault(response.case_id, []).append(response)
    pairs = []
    for case_id in sorted(by_case):
        rows = sorted(by_case[case_id], key=lambda r: (position.get(r.arm_id, 1 << 15), r.arm_id, r.pk))
        pairs += [(rows[i], rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    return pairs


# -- queue, retry, cancel -----------------------------------------------------------------------

def judge_job_queue(*, study: Study, kind: str = JudgeJob.Kind.LOCAL, model_ref: str = "",
                    dimensions: Sequence | None = None, pairwise: bool = False, params: dict | None = None,
                    base_url: str = "", adapter_path: str = "", responses: Iterable | None = None,
                    actor=None) -> JudgeJob:
    """Queue a judge job over ``responses`` (default: the newest response of each study
    arm to each test case) on queue ``gpu``. Raises JobStateError for a bad request and
    QueueUnavailable (leaving no job) when the broker is down."""
    from annotations.judge_tasks import run_judge_job
    from modeling.judge import resolve_dimensions

    if kind not in KINDS:
        raise JobStateError(f"Unknown judge kind {kind!r}; use local or openai.")
    if kind == JudgeJob.Kind.OPENAI:
        model_ref = model_ref or judge_setting("JUDGE_OPENAI_MODEL")
        if not model_ref:
            raise JobStateError("Name the endpoint's model (or set JUDGE_OPENAI_MODEL).")
        if adapter_path:
            raise JobStateError("An adapter only applies to a local judge.")
    else:
        model_ref = model_ref or "demo"
        if base_url:
            raise JobStateError("A base URL only applies to an OpenAI-compatible judge.")
    try:
        dims = resolve_dimensions(dimensions)
        pair_dims = resolve_dimensions((params or {}).get("pairwise_dimensions") or ["overall"]) if pairwise else []
    except ValueError as exc:
        raise JobStateError(str(exc)) from exc
    response_ids = ([r.pk if hasattr(r, "pk") else int(r) for r in responses] if responses is not None
                    else judge_responses_for(study))
    if not response_ids:
        raise JobStateError("No responses to judge: generate or import responses first.")
    if Response.objects.filter(pk__in=response_ids).exclude(case__study=study).exists():
        raise JobStateError("Some responses belong to another study.")
    chosen = list(Response.objects.filter(pk__in=response_ids).only("id", "case_id", "arm_id"))
    n_pairs = len(judge_pairs(chosen, study)) if pairwise else 0
    merged = {**DEFAULT_PARAMS, **(params or {})}
    merged["pairwise_dimensions"] = [d.key for d in pair_dims] or merged["pairwise_dimensions"]
    with transaction.atomic():
        job = JudgeJob.objects.create(
            study=study, kind=kind, model_ref=model_ref, adapter_path=adapter_path, base_url=base_url,
            dimensions=[d.as_dict() for d in dims], pairwise=pairwise, params=merged,
            created_by=actor if actor and actor.pk else None,
            progress_total=len(chosen) * len(dims) + 2 * n_pairs * len(pair_dims))
        job.responses.set([r.pk for r in chosen])
    job_services._enqueue(job, run_judge_job, actor=actor, action="job.judge.queue")
    return job


def judge_job_retry(*, job: JudgeJob, actor=None) -> None:
    """Queue a failed or cancelled judge job again; it resumes where it stopped (the
    scores already written are kept and not asked again)."""
    from annotations.judge_tasks import run_judge_job

    job_services.job_requeue(job=job, task=run_judge_job, actor=actor, action="job.judge.retry")


def judge_job_cancel(*, job: JudgeJob, actor=None) -> None:
    """Ask a judge job to stop (at once when queued, between batches when running)."""
    job_services.job_cancel(job=job, actor=actor)


# -- writes (called by the task) ------------------------------------------------------------------

def _clean(value):
    """JSON safe for PostgreSQL's jsonb: no NUL characters (a tokenizer's byte tokens
    can decode to one), no NaN."""
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000")
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def judge_scores_write(*, job: JudgeJob, results: Iterable) -> int:
    """Store :class:`modeling.judge.ScoreResult` s (``key`` = the response id) in one
    transaction; a (job, response, dimension) already stored is left as it is, so a task
    that runs again adds no duplicates. Returns how many rows were new."""
    rows = [JudgeScore(job=job, response_id=int(r.key), dimension=r.dimension, score=_clean(r.score),
                       judge_score=_clean(r.judge_score), method=r.method, distribution=_clean(r.distribution),
                       mass=_clean(r.mass), prompt=_clean(r.prompt),
                       raw_output=_clean({**r.raw_output, "model": r.model, "samples": r.samples}))
            for r in results]
    if not rows:
        return 0
    with transaction.atomic():
        before = JudgeScore.objects.filter(job=job).count()
        JudgeScore.objects.bulk_create(rows, ignore_conflicts=True)
        return JudgeScore.objects.filter(job=job).count() - before


def judge_comparisons_write(*, job: JudgeJob, results: Iterable) -> int:
    """Store :class:`modeling.judge.PairResult` s (``key`` = "a_id:b_id"), idempotent
    per (job, response a, response b, dimension)."""
    rows = []
    for r in results:
        a, b = (int(x) for x in r.key.split(":"))
        rows.append(JudgeComparison(job=job, response_a_id=a, response_b_id=b, dimension=r.dimension,
                                    prob_a_first=_clean(r.prob_a_first), prob_a_second=_clean(r.prob_a_second),
                                    method=r.method, prompt=_clean(r.prompt),
                                    raw_output=_clean({**r.raw_output, "model": r.model})))
    if not rows:
        return 0
    with transaction.atomic():
        before = JudgeComparison.objects.filter(job=job).count()
        JudgeComparison.objects.bulk_create(rows, ignore_conflicts=True)
        return JudgeComparison.objects.filter(job=job).count() - before


def judge_done_units(job: JudgeJob) -> int:
    """Prompts answered so far: one per score, two per comparison."""
    counts = JudgeJob.objects.filter(pk=job.pk).annotate(
        n_scores=Count("scores", distinct=True), n_pairs=Count("comparisons", distinct=True)).values(
        "n_scores", "n_pairs").first() or {"n_scores": 0, "n_pairs": 0}
    return counts["n_scores"] + 2 * counts["n_pairs"]


# -- analysis ----------------------------------------------------------------------------------------

def judge_frames(job: JudgeJob) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(judge scores, clinicians' current Likert ratings of the same study, comparisons)
    in long format with case_id, response_id and arm (name)."""
    from annotations.rubric import LIKERT

    judge = pd.DataFrame.from_records(
        list(JudgeScore.objects.filter(job=job).values_list(
            "response__case_id", "response_id", "response__arm__name", "dimension", "score",
            "response__case__category", "response__case__task").iterator(chunk_size=20000)),
        columns=["case_id", "response_id", "arm", "dimension", "value", "category", "task"])
    likert = [d["key"] for d in job.study.rubric if d.get("scale") == LIKERT]
    ratings = pd.DataFrame.from_records(
        list(Rating.objects.filter(submission__assignment__study=job.study, submission__is_current=True,
                                   dimension__in=likert, score__isnull=False).values_list(
            "response__case_id", "response_id", "response__arm__name", "submission__submitted_by_id", "dimension",
            "score").iterator(chunk_size=20000)),
        columns=["case_id", "response_id", "arm", "rater_id", "dimension", "value"])
    comparisons = pd.DataFrame.from_records(
        list(JudgeComparison.objects.filter(job=job).values_list(
            "response_a__case_id", "response_a__arm__name", "response_b__arm__name", "dimension", "prob_a_first",
            "prob_a_second")),
        columns=["case_id", "arm_a", "arm_b", "dimension", "prob_a_first", "prob_a_second"])
    return (judge.astype({"value": float}), ratings.astype({"value": float}),
            comparisons.astype({"prob_a_first": float, "prob_a_second": float}))


def judge_analyse(*, job: JudgeJob, n_boot: int = 1000) -> dict:
    """Compute the judge page's analysis of ``job`` (judge vs clinicians) and store it on
    the job; page loads read it, never recompute it."""
    from annotations.analysis import to_jsonable
    from annotations.analysis.concordance import judge_analysis
    from annotations.selectors.analysis import analysis_dimensions

    started = time.perf_counter()
    judge, ratings, comparisons = judge_frames(job)
    arms = list(job.study.study_arms.order_by("position", "id").values_list("arm__name", flat=True))
    present = set(judge["arm"]) | set(ratings["arm"])
    arms = [a for a in arms if a in present] + sorted(present - set(arms))
    result = judge_analysis(judge, ratings, job.dimensions, analysis_dimensions(job.study.rubric),
                            comparisons=comparisons, arms=arms, n_boot=n_boot, seed=job.study.seed % (2**32),
                            unit_columns=("case_id", "response_id"))
    result["meta"].update({"job": job.pk, "kind": job.kind, "model": job.model_ref,
                           "computed_at": timezone.now().isoformat(),
                           "compute_seconds": round(time.perf_counter() - started, 3),
                           "pairwise_dimensions": job.params.get("pairwise_dimensions", [])})
    result = to_jsonable(result)
    JudgeJob.objects.filter(pk=job.pk).update(analysis=result, analysed_at=timezone.now())
    job.analysis, job.analysed_at = result, timezone.now()
    return result
