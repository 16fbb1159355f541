"""What a study's Hugging Face dataset reads (``annotations/hf_dataset.py``): its cases,
responses and adjudicated harm flags row by row from chunked cursors (never a whole study
in memory), and the figures and protocol its dataset card states. Unblinded: for
researchers and admins only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import NamedTuple

from django.db.models import TextField
from django.db.models.functions import Cast

from annotations.dashboards import leaderboard_rows
from annotations.models import Assignment, Case, HarmDecision, ModelArm, Rating, Response, Study, Submission
from annotations.selectors.arms import study_arms_in_order
from annotations.selectors.exports import harm_decision_rows
from annotations.selectors.rating import blind_text
from annotations.selectors.studies import study_analysis
from modeling.case_text import case_text

CHUNK_ROWS = 2000


def case_rows(study: Study) -> Iterator[dict]:
    """Every case of the study (study, practice and gold), in id order, as rows of the
    ``cases`` split."""
    for case in Case.objects.filter(study=study).order_by("id").iterator(chunk_size=CHUNK_ROWS):
        as_dict = case.as_case_dict()
        planted = case.planted_problem or None
        yield {
            "case_id": case.pk, "external_id": case.external_id, "task": case.task, "category": case.category,
            "specialty": case.specialty, "split": case.split, "role": case.role,
            "in_rating_sample": case.in_rating_sample,
            "turns": [{"speaker": t.get("speaker"), "role": t.get("role"), "text": t.get("text")}
                      for t in case.turns or []],
            "question": case.question, "case_text": case_text(as_dict), "gold_behavior": case.gold_behavior,
            "label_space": [str(label) for label in case.label_space or []], "gold_label": case.gold_label,
            "reference_response": case.reference_response,
            "planted_problem_summary": (planted or {}).get("summary"),
            "planted_problem": json.dumps(planted, ensure_ascii=False) if planted else None,
            "case_json": json.dumps({**as_dict, "role": case.role}, ensure_ascii=False),
        }


_RESPONSE_FIELDS = ("id", "case_id", "case__external_id", "arm__name", "arm__method", "job_id", "text", "raw_text",
                    "predicted_behavior", "prompt_tokens", "completion_tokens", "latency_s", "provenance_text",
                    "correct", "created_at")


def response_rows(study: Study) -> Iterator[dict]:
    """Every response to the study's cases (every job's, not only each arm's newest), in
    id order, as rows of the ``responses`` split: ``text`` as raters saw it."""
    # The provenance as the database's JSON text: decoding and encoding it again per
    # response cost more than the rest of the row.
    rows = (Response.objects.filter(case__study=study).order_by("id")
            .annotate(provenance_text=Cast("provenance", TextField()))
            .values_list(*_RESPONSE_FIELDS).iterator(chunk_size=CHUNK_ROWS))
    for (pk, case_id, external_id, arm, method, job_id, text, raw_text, behavior, prompt_tokens, completion_tokens,
         latency_s, provenance, correct, created_at) in rows:
        yield {
            "response_id": pk, "case_id": case_id, "case_external_id": external_id, "arm": arm, "arm_method": method,
            "job_id": job_id, "text": blind_text(text), "raw_text": raw_text, "predicted_behavior": behavior,
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "latency_s": latency_s,
            "provenance": provenance or "{}", "correct": correct,
            "created_at": created_at,
        }


class Pseudonyms:
    """The names a published dataset gives the people in it: ``rater-1``, ``rater-2``...
    for the study's raters and ``adjudicator-1``... for those who decided harm flags,
    numbered in the order their accounts were made, the same person the same name in
    every table. A Hub dataset outlives the portal's accounts and should not carry them."""

    def __init__(self, study: Study):
        raters = (Assignment.objects.filter(study=study).exclude(rater=None).order_by("rater_id")
                  .values_list("rater__username", flat=True).distinct())
        deciders = (HarmDecision.objects.filter(rating__submission__assignment__study=study)
                    .order_by("decided_by_id").values_list("decided_by__username", flat=True).distinct())
        self._names = {username: f"rater-{n}" for n, username in enumerate(raters, start=1)}
        self._deciders = {username: f"adjudicator-{n}" for n, username in enumerate(deciders, start=1)}

    def rater(self, username: str | None) -> str | None:
        if username is None:
            return None
        # A rater whose assignment went back to the pool after the names were read.
        return self._names.setdefault(username, f"rater-{len(self._names) + 1}")

    def adjudicator(self, username: str | None) -> str | None:
        if username is None:
            return None
        return self._deciders.setdefault(username, f"adjudicator-{len(self._deciders) + 1}")

    def number(self, username: str | None) -> int | None:
        """The rater's number (``rater_id`` of a published row: n of ``rater-n``)."""
        name = self.rater(username)
        return None if name is None else int(name.removeprefix("rater-"))

    def column(self, name: str):
        """How a published table's column ``name`` names its people (None: it names none)."""
        return {"rater": self.rater, "submitted_by": self.rater, "decided_by": self.adjudicator,
                "harm_decided_by": self.adjudicator,
                "rater_ids": lambda names: [self.rater(n) for n in names]}.get(name)

    def row(self, row: dict) -> dict:
        """``row`` with its people by their pseudonyms."""
        for name, value in row.items():
            if (rename := self.column(name)) is not None:
                row[name] = rename(value)
        return row


class _HarmField(NamedTuple):
    name: str
    path: str  # from the HarmDecision row


_HARM_FIELDS = (
    _HarmField("case_id", "rating__submission__assignment__case_id"),
    _HarmField("case_external_id", "rating__submission__assignment__case__external_id"),
    _HarmField("response_id", "rating__response_id"),
    _HarmField("arm", "rating__response__arm__name"),
    _HarmField("dimension", "rating__dimension"),
    _HarmField("rater", "rating__submission__assignment__rater__username"),
    _HarmField("reason", "rating__note"),
    _HarmField("decision", "decision"),
    _HarmField("decision_note", "note"),
    _HarmField("decided_by", "decided_by__username"),
    _HarmField("decided_at", "decided_at"),
)


def harm_rows(study: Study) -> Iterator[dict]:
    """Every adjudicated harm flag of the study, by rating id, as rows of the ``harms``
    split (few: read whole)."""
    decisions = harm_decision_rows(study, _HARM_FIELDS)
    for rating_id in sorted(decisions):
        yield {"rating_id": rating_id, **{f.name: v for f, v in zip(_HARM_FIELDS, decisions[rating_id])}}


def _overall_likert(result: dict | None, labels: dict[str, str]) -> list[dict]:
    """The stored analysis's overall Likert means per dimension and arm (the dashboard's
    first table), in its order, each dimension under its label in ``labels``."""
    if not result or not result.get("meta", {}).get("n_ratings"):
        return []
    likert = {d["key"] for d in result["meta"]["dimensions"] if d.get("scale") == "likert"}
    return [{"dimension": labels.get(r["dimension"], r["dimension"]), "arm": r["arm"], "n": r.get("n"),
             "mean": r.get("mean"),
             "ci": r.get("mean_ci")}
            for r in result.get("descriptives", {}).get("records", [])
            if r.get("scope") == "overall" and r.get("dimension") in likert]


def dataset_card_facts(study: Study) -> dict:
    """What the dataset card states of the study: its protocol (rubric, raters per case,
    arms per screen, seed, arms by name and method) and its figures (counts of cases,
    responses, raters and current ratings; the stored analysis's overall means and both
    Bradley-Terry leaderboards)."""
    cases = Case.objects.filter(study=study)
    current = Submission.objects.filter(assignment__study=study, is_current=True)
    analysis = study_analysis(study)
    methods = dict(ModelArm.Method.choices)
    return {
        "arms": [{"name": arm.name, "method": methods.get(arm.method, arm.method)}
                 for arm in study_arms_in_order(study)],
        "n_cases": cases.count(),
        "n_cases_by_role": {role: cases.filter(role=role).count() for role in Case.Role.values},
        "n_rating_sample": cases.filter(in_rating_sample=True).count(),
        "n_responses": Response.objects.filter(case__study=study).count(),
        "n_raters": current.values("assignment__rater_id").exclude(assignment__rater_id=None).distinct().count(),
        "n_submissions": current.count(),
        "n_ratings": Rating.objects.filter(submission__in=current).count(),
        "analysis_at": analysis.computed_at if analysis else None,
        "headline": _overall_likert(analysis.result if analysis else None,
                                    {d["key"]: d.get("label") or d["key"] for d in study.rubric}),
        # Both Bradley-Terry leaderboards, plain and style-controlled, as the dashboard shows them.
        "leaderboards": (leaderboard_rows(analysis.result)
                         if analysis and (analysis.result or {}).get("preferences", {}).get("bradley_terry") else []),
    }
