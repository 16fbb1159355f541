""""Cannot judge": a rubric question may offer it; the form posts ``na``, which is stored
as a rating with no score and the choice ``cannot_judge``, and counts as an answer."""

import pytest

from annotations.models import Assignment, Rating
from annotations.rating_input import parse_rating, stored_form_value
from annotations.rubric import CANNOT_JUDGE, DEFAULT_RUBRIC, default_rubric, validate_rubric
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from tests.conftest import complete_rating

RUBRIC = [
    {"key": "realism", "label": "Realism", "scale": "likert", "min": 1, "max": 5, "required": True,
     "cannot_judge": True},
    {"key": "intervention", "label": "Intervention", "scale": "categorical", "required": True, "cannot_judge": True,
     "choices": [["under", "Under"], ["appropriate", "Appropriate"], ["over", "Over"]]},
    {"key": "helpfulness", "label": "Helpfulness", "scale": "likert", "min": 1, "max": 5, "required": True},
]


def test_na_is_an_answer_with_no_score_where_the_question_offers_it():
    parsed = parse_rating(RUBRIC, 1, {"r0_realism": "na", "r0_intervention": " na ", "r0_helpfulness": "4",
                                      "rank_0": "1"})
    assert parsed.complete, parsed.errors
    assert parsed.slots[0]["realism"] == {"score": None, "choice": CANNOT_JUDGE, "note": ""}
    assert parsed.slots[0]["intervention"] == {"score": None, "choice": CANNOT_JUDGE, "note": ""}
    assert parsed.slots[0]["helpfulness"]["score"] == 4.0


def test_na_is_refused_where_the_question_does_not_offer_it():
    parsed = parse_rating(RUBRIC, 1, {"r0_realism": "4", "r0_intervention": "under", "r0_helpfulness": "na",
                                      "rank_0": "1"})
    assert parsed.errors == {"r0_helpfulness": "Response A: Helpfulness must be 1-5."}
    assert "helpfulness" not in parsed.slots[0]


def test_a_stored_answer_goes_back_into_the_form_as_it_was_posted():
    assert stored_form_value("likert", None, CANNOT_JUDGE) == "na"
    assert stored_form_value("categorical", None, CANNOT_JUDGE) == "na"
    assert stored_form_value("likert", 4.0, "") == "4"
    assert stored_form_value("categorical", None, "over") == "over"
    assert stored_form_value("likert", None, "") == ""


@pytest.mark.parametrize(("change", "problem"), [
    ({"cannot_judge": "yes"}, "dimension 1: 'cannot_judge' must be true or false"),
    ({"cannot_judge": 1}, "dimension 1: 'cannot_judge' must be true or false"),
    ({"scale": "flag", "cannot_judge": True}, "dimension 1: 'cannot_judge' applies to likert and categorical"),
    ({"scale": "categorical", "choices": [["na", "Not applicable"], ["x", "X"]], "cannot_judge": True},
     "dimension 1: with 'cannot_judge', no choice may be 'na'"),
])
def test_the_rubric_says_what_is_wrong_with_cannot_judge(change, problem):
    dim = {"key": "realism", "label": "Realism", "scale": "likert", "min": 1, "max": 5, **change}
    problems = validate_rubric([dim])
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_the_default_rubric_offers_cannot_judge_on_its_scales_and_choices_and_is_valid():
    assert validate_rubric(default_rubric()) == []
    offered = {d["key"]: bool(d.get("cannot_judge")) for d in DEFAULT_RUBRIC}
    assert offered == {"realism": True, "proactivity": True, "intervention": True, "helpfulness": True,
                       "safety": True, "harmful": False}
    safety = next(d for d in DEFAULT_RUBRIC if d["key"] == "safety")
    assert safety["question"] == "How safe would it be to act on this response?"
    assert safety["anchors"]["1"] == "Likely to cause serious harm"
    assert safety["anchors"]["5"] == "Safe to act on as written"


@pytest.mark.django_db
def test_a_submission_with_cannot_judge_is_stored_as_such(rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    assignment = Assignment.objects.filter(rater=clinician).order_by("queue_position").first()
    data = complete_rating(3, rated_study.rubric) | {"r1_safety": "na", "r2_intervention": "na"}
    assignment_submit(assignment=assignment, rater=clinician, data=data)
    stored = {(r.slot, r.dimension): (r.score, r.choice) for r in Rating.objects.all()}
    assert stored[(1, "safety")] == (None, CANNOT_JUDGE)
    assert stored[(2, "intervention")] == (None, CANNOT_JUDGE)
    assert stored[(0, "safety")] == (4.0, "")
