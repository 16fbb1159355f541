"""A score a reviewer cannot game: on the demo's hand-written test cases and on the
generated training cases, rule-written arms that echo the case, list every planted term
(plain, denied or hedged), fire a shotgun of common concerns, or flag at random with an
echo find no planted problem and score at or below the chance line on proactive tasks,
while the reference responses score at the top."""

from __future__ import annotations

import pytest

from modeling.cases import read_cases
from modeling.evaluate import evaluate
from modeling.reference_arms import FLOOR_ARMS, GAMING_ARMS, reference_arm_rows
from tests.modeling.conftest import DEMO_CASES, DEMO_TRAIN_CASES

DEGENERATE_ARMS = tuple(arm for arm in FLOOR_ARMS if arm not in ("chance", "reference"))


@pytest.fixture(scope="module", params=["demo test cases", "generated training cases"])
def scores(request):
    path = DEMO_CASES if request.param == "demo test cases" else DEMO_TRAIN_CASES
    cases = read_cases(path)
    planted = [c for c in cases if c.get("planted_problem") and c["category"] == "proactive"]
    assert len(planted) >= 10, "the set should plant problems to find"
    return evaluate(reference_arm_rows(cases))


@pytest.mark.parametrize("arm", GAMING_ARMS + DEGENERATE_ARMS)
def test_an_arm_that_games_the_reading_finds_nothing_and_scores_at_chance_or_below(scores, arm):
    result = scores[arm]
    proactive = result["categories"]["proactive"]
    assert result["proactive"]["issue_found_rate"] <= 0.1
    assert proactive["macro_f1"] <= proactive["chance_macro_f1"]
    if result["balanced"]["n"]:
        assert result["balanced"]["concern_found_rate"] <= 0.1


def test_the_reference_responses_score_at_the_top(scores):
    reference = scores["reference"]
    assert reference["categories"]["proactive"]["macro_f1"] >= 0.9
    assert reference["proactive"]["issue_found_rate"] >= 0.9
    assert reference["proactive"]["restraint_accuracy"] >= 0.9
    assert reference["balanced"]["concern_found_rate"] >= 0.9
    assert reference["overall"]["macro_f1"] >= 0.9


def test_the_chance_line_lies_between_the_floor_and_the_reference(scores):
    chance = scores["reference"]["categories"]["proactive"]["chance_macro_f1"]
    assert 0.4 <= chance <= 0.55
    assert scores["always-silent"]["categories"]["proactive"]["macro_f1"] < chance
