"""Writing a judge job's results: scores, pairwise comparisons and planted-problem
readings, each idempotent per its key within the job (a rerun or a redelivered chunk adds
no duplicates), made safe for PostgreSQL's jsonb. Called by the run in
:mod:`annotations.services.judging`."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from annotations.models.judge import JudgeComparison, JudgeJob, JudgePlantedReading, JudgeScore


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


def _insert_new(model, job: JudgeJob, rows: list, response_field: str) -> int:
    """Insert ``rows``, leaving alone any that the job already has (a rerun adds no
    duplicates); returns how many were new, counted among the rows' own responses (not
    the whole job's, which grows with every batch)."""
    if not rows:
        return 0
    mine = model.objects.filter(job=job, **{f"{response_field}__in": {getattr(r, response_field) for r in rows}})
    with transaction.atomic():
        before = mine.count()
        model.objects.bulk_create(rows, ignore_conflicts=True)
        return mine.count() - before


def judge_scores_write(*, job: JudgeJob, results: Iterable) -> int:
    """Store :class:`modeling.judge.ScoreResult` s (``key`` = the response id),
    idempotent per (job, response, dimension). A result whose request failed for good
    (a prompt longer than the judge's context) is stored as such: no score, method
    ``error``, the error in ``raw_output["error"]``. Returns how many rows were new."""
    return _insert_new(JudgeScore, job, [
        JudgeScore(job=job, response_id=int(r.key), dimension=r.dimension, score=_clean(r.score),
                   judge_score=_clean(r.judge_score), method=r.method, distribution=_clean(r.distribution),
                   mass=_clean(r.mass), prompt=_clean(r.prompt),
                   raw_output=_clean({**r.raw_output, "model": r.model, "samples": r.samples, **_error_of(r)}))
        for r in results], "response_id")


def _error_of(result) -> dict:
    return {"error": result.error} if result.error else {}


def judge_planted_write(*, job: JudgeJob, results: Iterable) -> int:
    """Store :class:`modeling.judge.PlantedResult` s (``key`` = the response id),
    idempotent per (job, response). Returns how many rows were new."""
    return _insert_new(JudgePlantedReading, job, [
        JudgePlantedReading(job=job, response_id=int(r.key), prob_named=_clean(r.prob_named), named=r.named,
                            method=r.method, mass=_clean(r.mass), prompt=_clean(r.prompt),
                            raw_output=_clean({**r.raw_output, "model": r.model, "samples": r.samples,
                                               **_error_of(r)}))
        for r in results], "response_id")


def judge_comparisons_write(*, job: JudgeJob, results: Iterable) -> int:
    """Store :class:`modeling.judge.PairResult` s (``key`` = "a_id:b_id"), idempotent
    per (job, response a, response b, dimension)."""
    rows = []
    for r in results:
        a, b = (int(x) for x in r.key.split(":"))
        rows.append(JudgeComparison(job=job, response_a_id=a, response_b_id=b, dimension=r.dimension,
                                    prob_a_first=_clean(r.prob_a_first), prob_a_second=_clean(r.prob_a_second),
                                    method=r.method, prompt=_clean(r.prompt),
                                    raw_output=_clean({**r.raw_output, "model": r.model, **_error_of(r)})))
    return _insert_new(JudgeComparison, job, rows, "response_a_id")
