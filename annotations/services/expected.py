"""Marking a case as practice or gold, with the answers the study team expects."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from annotations.errors import InvalidRequest, NotFound
from annotations.ids import id_or_not_found
from annotations.models import Assignment, Case, Study
from annotations.rating_input import text_problem
from annotations.rubric import CATEGORICAL, LIKERT
from annotations.selectors.arms import study_arm_ids
from annotations.selectors.responses import newest_responses
from annotations.services.audit import audit_record


def expected_field(response_id: int, key: str) -> str:
    """The form field of the expected value of one response on one dimension (or ``rank``)."""
    return f"e{response_id}_{key}"


def _parse(study: Study, response_ids: list[int], data: Mapping[str, str]) -> tuple[dict, list[str]]:
    ratings, ranks, problems = {}, {}, []
    for rid in response_ids:
        values = {}
        for dim in study.rubric:
            raw = str(data.get(expected_field(rid, dim["key"]), "")).strip()
            if not raw:
                continue
            if dim["scale"] == LIKERT:
                if not raw.isdigit() or not dim["min"] <= int(raw) <= dim["max"]:
                    problems.append(f"{dim['label']}: {raw!r} is not {dim['min']}-{dim['max']}")
                    continue
                values[dim["key"]] = int(raw)
            elif dim["scale"] == CATEGORICAL:
                if raw not in [c[0] for c in dim["choices"]]:
                    problems.append(f"{dim['label']}: {raw!r} is not one of the choices")
                    continue
                values[dim["key"]] = raw
        if values:
            ratings[str(rid)] = values
        rank = str(data.get(expected_field(rid, "rank"), "")).strip()
        if rank:
            if not rank.isdigit() or not 1 <= int(rank) <= len(response_ids):
                problems.append(f"rank {rank!r} is not 1-{len(response_ids)}")
            else:
                ranks[str(rid)] = int(rank)
    return {"ratings": ratings, "ranks": ranks}, problems


def case_set_expected(*, study: Study, case_id, role: str, data: Mapping[str, str], actor) -> Case:
    """Make the case a study, practice or gold case, with the expected ratings and/or
    ranking of its responses (keyed by response) and an explanation shown after practice.
    A practice or gold case needs at least one expected answer. All or nothing."""
    if role not in Case.Role.values:
        raise InvalidRequest(f"Unknown case role {role!r}.")
    case = study.cases.filter(pk=id_or_not_found(case_id, "No such case in this study.")).first()
    if case is None:
        raise NotFound("No such case in this study.")
    arm_ids = study_arm_ids(study)
    response_ids = sorted(newest_responses(study, arm_ids=arm_ids).filter(case=case).values_list("id", flat=True))
    expected, problems = _parse(study, response_ids, data)
    explanation = str(data.get("explanation", "")).strip()
    problem = text_problem("The explanation", explanation)
    if problem:
        problems.append(problem)
    if role != Case.Role.STUDY and not (expected["ratings"] or expected["ranks"]):
        problems.append("A practice or gold case needs at least one expected rating or rank.")
    if problems:
        raise InvalidRequest("Not saved: " + "; ".join(problems))
    expected["explanation"] = explanation
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        before = {"role": locked.role, "expected": locked.expected}
        locked.role = role
        locked.expected = expected if role != Case.Role.STUDY else {}
        # A practice or gold case leaves the rating sample; its unopened assignments go too.
        if role != Case.Role.STUDY:
            locked.in_rating_sample = False
            locked.assignments.filter(shown_at__isnull=True, status=Assignment.Status.PENDING).delete()
        locked.save(update_fields=["role", "expected", "in_rating_sample"])
        audit_record(actor=actor, action="case.expected", obj=locked,
                     summary=f"{locked.external_id}: {before['role']} -> {role}", before=before,
                     after={"role": role, "expected": locked.expected})
    return locked
