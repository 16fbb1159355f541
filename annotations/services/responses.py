"""Writing responses (idempotent per (case, arm, job), flagged when they name a model) and
the cases a job got no answer for, for good."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from django.db import transaction
from django.db.models import F

from annotations.models import Case, GenerationFailure, GenerationJob, Response, Study
from annotations.selectors.analysis import AUTOMATIC_FIELDS, automatic_record
from annotations.selectors.responses import response_keys_of_cases
from modeling.endpoint_requests import RequestFailure
from modeling.metrics import score_response

_FINISH_REASON_LENGTH = Response._meta.get_field("finish_reason").max_length
_CASE_FIELDS = tuple(field for field in AUTOMATIC_FIELDS if field.startswith("case__"))

# A response that names a model or vendor would unblind the rater.
_MODEL_NAME_RE = re.compile(
    r"\b(smollm\w*|qwen[\w.-]*|llama[\w.-]*|mistral|gemma|phi-\d|gpt-?\d\w*|chatgpt|openai|claude|anthropic|"
    r"gemini|hugging ?face|behavior ?sft|general ?sft|as an ai (language )?model|i am an ai)\b",
    re.IGNORECASE,
)


def text_names_model(text: str) -> bool:
    return bool(_MODEL_NAME_RE.search(text or ""))


def responses_write(*, rows: Iterable[dict], cases: Mapping[int, Case] | None = None) -> int:
    """Write response rows in one transaction; rows already written for the same
    (case, arm, job) are skipped, so a task that runs again after a crash adds no duplicates,
    and neither does one delivered twice to two workers at once (the database's unique
    constraint settles who writes).

    Each row holds Response field values (``case_id``, ``arm_id``, ``job_id``, ``text``...).
    ``cases`` (by pk), where the caller has the rows' cases loaded already, spares
    reading them again to score the responses. Returns how many rows were new.
    """
    rows = list(rows)
    if not rows:
        return 0
    with transaction.atomic():
        existing = response_keys_of_cases({r["case_id"] for r in rows})
        new = []
        for row in rows:
            key = (row["case_id"], row["arm_id"], row.get("job_id"))
            if key in existing:
                continue
            existing.add(key)
            new.append(Response(**{**row, "finish_reason": _finish_reason(row.get("finish_reason"))},
                                names_model=text_names_model(row.get("text", ""))))
        _score(new, cases)
        Response.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def generation_failures_write(*, job: GenerationJob, failures: Iterable[tuple[int, RequestFailure]]) -> int:
    """Store ``(case id, failure)`` pairs as the job's lasting failures of those cases,
    once per (job, case) whoever writes them; returns how many were new."""
    failures = dict(failures)
    if not failures:
        return 0
    with transaction.atomic():
        known = set(GenerationFailure.objects.filter(job=job, case_id__in=failures).values_list("case_id", flat=True))
        new = [GenerationFailure(job=job, case_id=case_id, kind=failure.kind, message=failure.message)
               for case_id, failure in failures.items() if case_id not in known]
        GenerationFailure.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _finish_reason(said: str | None) -> str:
    """What ended a response, as stored: an inference server may answer any string, and
    one longer than the column must not fail the chunk that writes it."""
    return (said or "")[:_FINISH_REASON_LENGTH]


def _score(responses: list[Response], loaded: Mapping[int, Case] | None = None) -> None:
    """Set each response's ``reading`` and ``correct``: its case's gold label read as the automatic
    metrics read it (one reading, :func:`automatic_record`)."""
    case_ids = {r.case_id for r in responses}
    if loaded is not None and case_ids <= loaded.keys():
        cases = {pk: {"study_id": loaded[pk].study_id, "case_id": pk,
                      **{field: getattr(loaded[pk], field.removeprefix("case__")) for field in _CASE_FIELDS}}
                 for pk in case_ids}
    else:
        cases = {row["case_id"]: row for row in Case.objects.filter(pk__in=case_ids).values(
            "study_id", case_id=F("pk"), **{field: F(field.removeprefix("case__")) for field in _CASE_FIELDS})}
    registries = {pk: study.task_registry() for pk, study in
                  Study.objects.in_bulk({c["study_id"] for c in cases.values()}).items()}
    for response in responses:
        case = cases[response.case_id]
        task = registries[case["study_id"]].get(case["case__task"])
        if task is None or not case["case__gold_label"]:
            continue
        record = automatic_record({**case, "arm_id": response.arm_id, "text": response.text,
                                   "predicted_behavior": response.predicted_behavior,
                                   "completion_tokens": response.completion_tokens})
        response.reading = score_response(record, task)
        response.correct = bool(response.reading["correct"])
