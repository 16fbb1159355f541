"""Frames for the statistics, read from the database in long format."""

from __future__ import annotations

import pandas as pd
from django.db.models import OuterRef, Subquery

from annotations.models import Case, JudgePlantedReading, Preference, Rating, Study
from annotations.rating_row import rating_paths
from annotations.rubric import CATEGORICAL, FLAG, LIKERT
from annotations.selectors.arms import analysis_seed, study_arm_names, study_arm_names_by_id
from annotations.selectors.rating import blind_text
from annotations.selectors.responses import newest_responses

# Fields of the rating row (annotations/rating_row.py) the statistics read.
RATING_COLUMNS = ["assignment_id", "case_id", "rater_id", "arm", "slot", "dimension", "score", "choice",
                  "category", "task"]


def analysis_dimensions(rubric: list[dict]) -> list[dict]:
    """The rubric as the analysis package reads it: flags become yes/no categories."""
    dims = []
    for dim in rubric:
        if dim["scale"] == LIKERT:
            dims.append({"key": dim["key"], "scale": LIKERT, "min": dim["min"], "max": dim["max"]})
        elif dim["scale"] == CATEGORICAL:
            dims.append({"key": dim["key"], "scale": CATEGORICAL, "choices": [c[0] for c in dim["choices"]]})
        elif dim["scale"] == FLAG:
            dims.append({"key": dim["key"], "scale": CATEGORICAL, "choices": ["yes", "no"]})
    return dims


def rating_frames(study: Study, *, current_only: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(likert ratings, categorical judgments, preferences) of the study's submissions."""
    # Gold cases are scored against their expected answers, not counted with the study's.
    ratings = Rating.objects.answered().filter(submission__assignment__study=study,
                                               submission__assignment__case__role=Case.Role.STUDY)
    preferences = Preference.objects.filter(submission__assignment__study=study,
                                            submission__assignment__case__role=Case.Role.STUDY)
    if current_only:
        ratings = ratings.filter(submission__is_current=True)
        preferences = preferences.filter(submission__is_current=True)
    rows = ratings.values_list(*rating_paths(RATING_COLUMNS))
    frame = pd.DataFrame.from_records(list(rows.iterator(chunk_size=20000)), columns=RATING_COLUMNS)
    likert_keys = {d["key"] for d in study.rubric if d["scale"] == LIKERT}
    likert = frame[frame["dimension"].isin(likert_keys)].drop(columns=["choice"]).rename(columns={"score": "value"})
    likert = likert.astype({"value": float})
    judgments = frame[~frame["dimension"].isin(likert_keys)].drop(columns=["score"]).rename(columns={"choice": "value"})
    from annotations.analysis.style_control import STYLE_COLUMNS

    prefs = pd.DataFrame.from_records(
        _with_style(preferences.values_list("submission__assignment_id", "submission__assignment__case_id",
                                            "submission__assignment__rater_id", "response__arm__name", "slot",
                                            "rank", "response_id", "response__completion_tokens", "response__text")
                    .iterator(chunk_size=20000)),
        columns=["assignment_id", "case_id", "rater_id", "arm", "slot", "rank", *STYLE_COLUMNS])
    return likert.reset_index(drop=True), judgments.reset_index(drop=True), prefs


def _with_style(rows):
    """Preference rows with the response's style (its token count, then
    :func:`style_counts` of the text as raters saw it) in place of its id and text,
    each response's text read once however many raters ranked it."""
    from annotations.analysis.style_control import style_counts

    counts: dict[int, tuple] = {}
    for *head, response_id, completion_tokens, text in rows:
        if response_id not in counts:
            counts[response_id] = style_counts(blind_text(text))
        yield (*head, completion_tokens, *counts[response_id])


AUTOMATIC_FIELDS = ("arm_id", "case_id", "text", "predicted_behavior", "completion_tokens", "case__external_id",
                    "case__task", "case__gold_label", "case__gold_behavior", "case__label_space", "case__question",
                    "case__planted_problem", "case__specialty", "case__turns", "case__tables", "case__images",
                    "reading")


def automatic_record(row: dict) -> dict:
    """One response with what scoring needs (:func:`modeling.metrics.score_response`),
    from a row of :data:`AUTOMATIC_FIELDS`: the automatic metrics and a responses-page
    filter ("correct or not") read a response the same way. The case's text goes with
    it: words a response copies from the case find nothing (:mod:`modeling.reading`)."""
    return {"external_id": row["case__external_id"], "task": row["case__task"], "gold_label": row["case__gold_label"],
            "gold_behavior": row["case__gold_behavior"], "label_space": row["case__label_space"],
            "question": row["case__question"], "text": row["text"], "planted_problem": row["case__planted_problem"],
            "predicted_behavior": row["predicted_behavior"] or None, "completion_tokens": row["completion_tokens"],
            "specialty": row["case__specialty"], "turns": row["case__turns"], "tables": row["case__tables"],
            "images": row["case__images"], "planted_named": row.get("planted_named"),
            "stored_reading": row.get("reading")}


def stored_reading(record: dict) -> dict | None:
    """The reading stored with the response when it was written (the terms'), where it is
    the one to count: None where the record carries a judge's reading, or none was stored."""
    return record["stored_reading"] if record.get("planted_named") is None else None


def judge_named(job) -> Subquery:
    """The judge job's reading of "was the planted problem named" for the response of
    each row (None where the job did not read it or left it undecided), to annotate a
    response queryset with as ``planted_named``."""
    return Subquery(JudgePlantedReading.objects.filter(job=job, response_id=OuterRef("pk")).values("named")[:1])


def automatic_rows(study: Study, *, chunk_size: int = 5000, planted_job=None):
    """``(arm names by id, rows)``: the newest response of each study arm to each test
    case, one case's responses after another (ordered by case), streamed from the
    database in chunks so that no more than ``chunk_size`` texts are in memory at once.
    With ``planted_job`` (a judge job) each row carries that judge's reading of "was
    the planted problem named" (``planted_named``), which scoring then reads instead of
    the terms."""
    arms = study_arm_names_by_id(study)
    responses = newest_responses(study, arm_ids=list(arms)).order_by("case_id", "arm_id")
    if planted_job is not None:
        responses = responses.annotate(planted_named=judge_named(planted_job))
    fields = (*AUTOMATIC_FIELDS, "planted_named") if planted_job is not None else AUTOMATIC_FIELDS
    rows = responses.values(*fields).iterator(chunk_size=chunk_size)
    return arms, rows


SENSITIVITY_BOOT = 300  # resamples of a sensitivity rerun: computed while the researcher waits


def study_sensitivity(study: Study, *, exclude_raters: set[int], n_boot: int = SENSITIVITY_BOOT) -> dict | None:
    """The study's analysis rerun without the chosen raters' submissions (computed now,
    not stored): the same statistics as the dashboard, for a sensitivity view. None when
    no rating is left."""
    from annotations.analysis import summarize_study

    ratings, judgments, preferences = rating_frames(study)
    keep = [frame[~frame["rater_id"].isin(exclude_raters)].reset_index(drop=True)
            for frame in (ratings, judgments, preferences)]
    if keep[0].empty:
        return None
    return summarize_study(*keep, analysis_dimensions(study.rubric), n_boot=n_boot, seed=analysis_seed(study),
                           arms=study_arm_names(study))
