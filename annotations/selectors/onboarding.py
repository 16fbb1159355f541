"""What a rater sees while onboarding in a study: the practice cases (blind, like every
rating page) and the feedback on their answers against the expected ones."""

from __future__ import annotations

import random

from django.db.models import Exists, OuterRef

from annotations.ids import id_or_not_found
from annotations.models import Case, PracticeAttempt, Study
from annotations.rating_input import slot_letter
from annotations.rubric import CANNOT_JUDGE, CANNOT_JUDGE_LABEL, FLAG, LIKERT
from annotations.selectors.arms import study_arm_ids
from annotations.selectors.rating import CaseView, RatingPage, SlotView, blind_text
from annotations.selectors.responses import newest_responses, response_texts


def practice_cases(study: Study):
    return study.cases.filter(role=Case.Role.PRACTICE).order_by("id")


def practice_case_for_rater(*, study: Study, case_id) -> Case:
    from annotations.errors import NotFound

    case = practice_cases(study).filter(pk=id_or_not_found(case_id, "No such practice case.")).first()
    if case is None:
        raise NotFound("No such practice case.")
    return case


def practice_next(*, study: Study, rater) -> Case | None:
    """The first practice case the rater has not tried yet (judged on the rater's own
    attempts alone, whoever else tried it)."""
    tried = PracticeAttempt.objects.filter(case=OuterRef("pk"), rater=rater)
    return practice_cases(study).exclude(Exists(tried)).first()


def practice_attempt(*, study: Study, case: Case, rater) -> PracticeAttempt:
    from annotations.errors import NotFound

    attempt = PracticeAttempt.objects.filter(study=study, case=case, rater=rater).first()
    if attempt is None:
        raise NotFound("You have not tried this practice case yet.")
    return attempt


def practice_slots(*, study: Study, case: Case, rater) -> list[int]:
    """The case's newest response of each arm, in an order seeded per rater and case (the
    same on every showing, so the answers posted match the letters shown)."""
    arm_ids = study_arm_ids(study)
    by_arm = dict(newest_responses(study, arm_ids=arm_ids).filter(case=case).values_list("arm_id", "id"))
    slots = [by_arm[a] for a in arm_ids if a in by_arm]
    random.Random(f"{study.seed}:{rater.pk}:{case.pk}").shuffle(slots)
    return slots


def practice_page(*, study: Study, case: Case, rater) -> RatingPage:
    slots = practice_slots(study=study, case=case, rater=rater)
    texts = response_texts(slots)
    cases = list(practice_cases(study).values_list("id", flat=True))
    return RatingPage(
        assignment_id=0, case=CaseView(specialty=case.specialty, turns=case.turns, tables=case.tables,
                                       images=case.images),
        slots=[SlotView(i, slot_letter(i), blind_text(texts.get(rid) or "")) for i, rid in enumerate(slots)],
        rubric=study.rubric, draft={}, position=cases.index(case.pk) + 1, total=len(cases), submitted=False,
        instructions=study.instructions)


def practice_feedback(attempt: PracticeAttempt, study: Study) -> dict:
    """The rater's answers beside the expected ones, per response letter and dimension."""
    expected = attempt.case.expected or {}
    texts = response_texts(attempt.slots)
    rows = []
    for index, response_id in enumerate(attempt.slots):
        given = attempt.answers["slots"][index]
        want = (expected.get("ratings") or {}).get(str(response_id), {})
        dims = []
        for dim in study.rubric:
            key = dim["key"]
            value = given.get(key) or {}
            target = want.get(key)
            if value.get("choice") == CANNOT_JUDGE:
                # No answer on the scale: shown as given, neither a match nor a miss.
                mine, match = CANNOT_JUDGE_LABEL, None
            else:
                mine = value.get("score") if dim["scale"] == LIKERT else value.get("choice")
                if dim["scale"] == LIKERT and mine is not None:
                    mine = int(mine)
                match = None if target is None or mine is None else (
                    str(mine) == str(target) if dim["scale"] != LIKERT else abs(float(mine) - float(target)) <= 0.5)
            dims.append({"label": dim["label"], "yours": mine, "expected": target, "match": match,
                         "flag": dim["scale"] == FLAG})
        rank_expected = (expected.get("ranks") or {}).get(str(response_id))
        rows.append({"letter": slot_letter(index), "text": blind_text(texts.get(response_id) or ""), "dims": dims,
                     "rank": attempt.answers["ranks"][index], "rank_expected": rank_expected})
    return {"rows": rows, "explanation": expected.get("explanation", "")}
