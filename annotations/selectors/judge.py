"""Reads of the judge page and its analysis (researchers and admins only)."""

from __future__ import annotations

import pandas as pd

from annotations.errors import NotFound
from annotations.ids import id_or_not_found, strict_id
from annotations.models import Rating, Study
from annotations.models.judge import JudgeComparison, JudgeJob, JudgePlantedReading, JudgeScore
from annotations.rubric import LIKERT

MAX_SCORE_ROWS = 200


def judge_jobs_recent(study: Study, limit: int = 20) -> list[JudgeJob]:
    return list(JudgeJob.objects.filter(study=study).select_related("created_by").order_by("-created_at")[:limit])


def judge_job_get(study: Study, pk) -> JudgeJob:
    """One of the study's judge jobs; NotFound otherwise."""
    job = JudgeJob.objects.filter(study=study, pk=id_or_not_found(pk, "No such judge job.")).first()
    if job is None:
        raise NotFound("No such judge job.")
    return job


def judge_job_shown(study: Study, pk: str | None) -> JudgeJob | None:
    """The job the page shows: the one asked for, else the newest analysed one, else the
    newest."""
    jobs = JudgeJob.objects.filter(study=study)
    if pk:
        return jobs.filter(pk=strict_id(pk)).first() if strict_id(pk) is not None else None
    return (jobs.filter(analysis__isnull=False).exclude(analysis__has_key="error").order_by("-created_at").first()
            or jobs.order_by("-created_at").first())


def judge_item_errors(job: JudgeJob) -> dict:
    """The job's prompts whose request failed for good (stored with method ``error``):
    how many, and the first one's error, for the judge page."""
    rows = [model.objects.filter(job=job, method="error") for model in (JudgeScore, JudgeComparison,
                                                                      JudgePlantedReading)]
    count = sum(r.count() for r in rows)
    first = next((r.order_by("pk").values_list("raw_output", flat=True).first() for r in rows if r.exists()), None)
    return {"count": count, "first": (first or {}).get("error", "")} if count else {}


def judge_score_table(job: JudgeJob) -> tuple[list[str], list[dict]]:
    """One row per judged response (case, arm) with its score on each dimension, the
    first MAX_SCORE_ROWS responses."""
    keys = job.dimension_keys
    rows: dict[int, dict] = {}
    scores = (JudgeScore.objects.filter(job=job).select_related("response__case", "response__arm")
              .only("id", "dimension", "score", "response__id", "response__case__external_id",
                    "response__arm__name").order_by("response__case__external_id", "response__arm__name"))
    for score in scores.iterator(chunk_size=2000):
        row = rows.get(score.response_id)
        if row is None:
            if len(rows) >= MAX_SCORE_ROWS:
                continue
            row = rows[score.response_id] = {"case": score.response.case.external_id,
                                             "arm": score.response.arm.name, "cells": {}}
        row["cells"][score.dimension] = score
    table = []
    for row in rows.values():
        row["cells"] = [row["cells"].get(k) for k in keys]
        table.append(row)
    return keys, table


def _with_response(scores):
    return scores.select_related("response__case", "response__arm")


def judge_score_get(study: Study, pk) -> JudgeScore:
    score = _with_response(JudgeScore.objects.filter(job__study=study,
                                                     pk=id_or_not_found(pk, "No such judge score."))).first()
    if score is None:
        raise NotFound("No such judge score.")
    return score


def judge_scores_all(job: JudgeJob):
    """Every score of a job with its case and arm, in a stable order (for the export),
    read from the database a few hundred at a time."""
    return _with_response(JudgeScore.objects.filter(job=job)).order_by("pk").iterator(chunk_size=500)


def judge_frames(job: JudgeJob) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(judge scores, clinicians' current Likert ratings of the same study, comparisons)
    in long format with case_id, response_id and arm (name)."""
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
