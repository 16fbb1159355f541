"""The automatic reading of rated responses on the clinicians' intervention scale
(:func:`modeling.metrics.intervention_reading`: under / appropriate / over), beside each
clinician's intervention answer and the harm flags: what the dashboard's
reading-vs-clinician agreement and the ratings export read. Two readings of "was the
planted problem named": the terms' (ConText, :mod:`modeling.planted`) and, where a judge
job read the response, the LLM judge's (:class:`~annotations.models.judge.JudgePlantedReading`).
Researchers and admins only."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from django.db.models import Count, Q, QuerySet

from annotations.models import Case, JobStatus, Rating, Response, Study
from annotations.models.judge import JudgeJob
from annotations.rubric import CATEGORICAL
from annotations.selectors.analysis import AUTOMATIC_FIELDS, automatic_record, judge_named, stored_reading
from annotations.selectors.harms import harm_flags_all
from modeling.metrics import intervention_reading, score_response

INTERVENTION_CHOICES = ("under", "appropriate", "over")
UNIT_COLUMNS = ["case_id", "response_id", "arm", "rater_id", "clinician", "automatic", "judge", "harm_flags"]
TERMS_LABEL = "the terms' reading (ConText)"


def intervention_key(rubric: list[dict]) -> str | None:
    """The rubric's intervention question: a categorical dimension whose choices are
    under / appropriate / over ("intervention" first); None when the rubric has none."""
    keys = [d["key"] for d in rubric if d.get("scale") == CATEGORICAL
            and set(INTERVENTION_CHOICES) <= {c[0] if isinstance(c, list | tuple) else c for c in d.get("choices", [])}]
    return "intervention" if "intervention" in keys else (keys[0] if keys else None)


def planted_jobs(study: Study) -> list[JudgeJob]:
    """The study's judge jobs that read planted problems and finished, newest first: the
    readings the automatic metrics may use."""
    return list(JudgeJob.objects.filter(study=study, planted=True, status=JobStatus.SUCCEEDED)
                .order_by("-created_at", "-id"))


def planted_reading_job(study: Study) -> JudgeJob | None:
    """The judge job whose reading is set beside the terms' in the agreement with the
    clinicians: the one the study's automatic metrics use, else the newest finished job
    that read planted problems."""
    if study.planted_reading_job_id:
        return JudgeJob.objects.filter(pk=study.planted_reading_job_id).first()
    jobs = planted_jobs(study)
    return jobs[0] if jobs else None


def reading_source(job: JudgeJob | None) -> dict:
    """What a set of automatic metrics read "was the planted problem named" from, in
    words for the dashboard: ``{"source": "terms" | "judge", "job", "label"}``."""
    if job is None:
        return {"source": "terms", "job": None, "label": TERMS_LABEL}
    return {"source": "judge", "job": job.pk, "model": job.model_ref,
            "label": f"the LLM judge's planted reading, job #{job.pk}"}


def response_readings(study: Study, responses: QuerySet[Response], *, judge_job: JudgeJob | None = None,
                      chunk_size: int = 5000) -> dict[int, tuple[str | None, str | None]]:
    """Response id -> (the terms' reading, the judge's reading) on the intervention
    scale; a reading is None where it says nothing (a reactive task; a planted case
    without a checkable problem; a response the judge did not read or left undecided).
    Records come from :func:`~annotations.selectors.analysis.automatic_record`, so the
    portal reads a response the same way everywhere."""
    registry = study.task_registry()
    fields = ["id", *AUTOMATIC_FIELDS]
    rows = responses.order_by()
    if judge_job is not None:
        rows = rows.annotate(judge_reading=judge_named(judge_job))
        fields.append("judge_reading")
    out: dict[int, tuple[str | None, str | None]] = {}
    for row in rows.values(*fields).iterator(chunk_size=chunk_size):
        task = registry.get(row["case__task"])
        if task is None or not row["case__gold_label"]:
            out[row["id"]] = (None, None)
            continue
        out[row["id"]] = (_reading(automatic_record(row), task), None)
        named = row.get("judge_reading")
        if isinstance(named, bool):
            out[row["id"]] = (out[row["id"]][0], _reading(automatic_record({**row, "planted_named": named}), task))
    return out


def _reading(record: Mapping, task) -> str | None:
    scored = stored_reading(record) or score_response(record, task)
    return intervention_reading(scored, record["gold_label"])


def reading_units(study: Study, *, judge_job: JudgeJob | None = None) -> pd.DataFrame:
    """One row per clinician's intervention answer about a response (current
    submissions, study cases), with the response's readings and how many harm flags the
    clinicians raised on it: the frame :func:`annotations.analysis.reading_agreement.
    reading_agreement` reads (columns :data:`UNIT_COLUMNS`)."""
    key = intervention_key(study.rubric)
    if key is None:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    ratings = Rating.objects.answered().filter(submission__assignment__study=study, submission__is_current=True,
                                    submission__assignment__case__role=Case.Role.STUDY, dimension=key)
    frame = pd.DataFrame.from_records(
        list(ratings.values_list("submission__assignment__case_id", "response_id", "response__arm__name",
                                 "submission__assignment__rater_id", "choice").iterator(chunk_size=20000)),
        columns=UNIT_COLUMNS[:5])
    if frame.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    readings = response_readings(study, Response.objects.filter(pk__in=ratings.values("response_id")),
                                 judge_job=judge_job)
    flags = dict(harm_flags_all(study).order_by().values("response_id").annotate(n=Count("id"))
                 .values_list("response_id", "n"))
    ids = frame["response_id"]
    frame["automatic"] = [readings.get(r, (None, None))[0] for r in ids]
    frame["judge"] = [readings.get(r, (None, None))[1] for r in ids]
    frame["harm_flags"] = [flags.get(r, 0) for r in ids]
    return frame[UNIT_COLUMNS]


def planted_reading_records(job: JudgeJob, *, chunk_size: int = 5000):
    """The responses a judge job read, each as a scoring record carrying the judge's
    reading (``planted_named``) and its arm's name (``arm``), streamed."""
    rows = (Response.objects.filter(judge_planted_readings__job=job).order_by()
            .annotate(planted_named=judge_named(job)).values(*AUTOMATIC_FIELDS, "planted_named", "arm__name")
            .iterator(chunk_size=chunk_size))
    for row in rows:
        yield {**automatic_record(row), "arm": row["arm__name"]}


def planted_reading_counts(job: JudgeJob) -> list[dict]:
    """Per arm (by name): the responses a judge job read, and how many it read as naming
    the planted problem, as not naming it, and left undecided."""
    rows = (job.planted_readings.order_by("response__arm__name").values("response__arm__name")
            .annotate(n_read=Count("id"), n_named=Count("id", filter=Q(named=True)),
                      n_not_named=Count("id", filter=Q(named=False)),
                      n_undecided=Count("id", filter=Q(named__isnull=True))))
    return [{"arm": r["response__arm__name"], "read": r["n_read"], "named": r["n_named"],
             "not_named": r["n_not_named"], "undecided": r["n_undecided"]} for r in rows]


def readings_of_responses(study: Study, response_ids, *, judge_job: JudgeJob | None = None
                          ) -> dict[int, tuple[str | None, str | None]]:
    """:func:`response_readings` of the responses named (of ``study``)."""
    return response_readings(study, Response.objects.filter(pk__in=list(response_ids)), judge_job=judge_job)


def readings_of_ratings(ratings) -> dict[int, tuple[str | None, str | None]]:
    """Response id -> (the terms' reading, the judge's reading) of each rated response of
    ``ratings`` (Rating rows loaded with their submission's assignment's study), each
    study's responses read with the judge job its exports use (:func:`planted_reading_job`)."""
    by_study: dict[int, tuple[Study, set[int]]] = {}
    for rating in ratings:
        study = rating.submission.assignment.study
        by_study.setdefault(study.pk, (study, set()))[1].add(rating.response_id)
    readings: dict[int, tuple[str | None, str | None]] = {}
    for study, response_ids in by_study.values():
        readings.update(readings_of_responses(study, response_ids, judge_job=planted_reading_job(study)))
    return readings
