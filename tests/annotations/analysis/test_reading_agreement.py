"""The automatic reading against the clinicians' intervention answers: agreement, Cohen's
kappa (three categories, and appropriate vs not) with cluster-bootstrap CIs, per arm and
overall, and the harm flags by what the reading says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from annotations.analysis.reading_agreement import (
    CATEGORIES,
    agreement_rows,
    binary_confusion,
    kappa_from_confusion,
    reading_agreement,
)
from modeling.bootstrap import case_weights

# (case, response, arm, clinician, automatic, harm flags of the response)
HAND = [
    (1, 11, "A", "appropriate", "appropriate", 1),
    (1, 11, "A", "under", "appropriate", 1),  # a second clinician on the same response
    (2, 12, "A", "under", "under", 0),
    (2, 13, "A", "over", "over", 2),
    (3, 14, "A", "appropriate", "over", 0),
    (3, 15, "A", "appropriate", "appropriate", 0),
]


def _units(rows, judge=None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["case_id", "response_id", "arm", "clinician", "automatic", "harm_flags"])
    frame["judge"] = judge if judge is not None else None
    return frame


def test_hand_computed_agreement_kappa_and_harms():
    result = reading_agreement(_units(HAND), n_boot=200, seed=3)
    a = result["readings"]["automatic"]["overall"]
    # confusion (rows clinicians, columns the reading): under [1,1,0], appropriate [0,2,1], over [0,0,1]
    assert a["confusion"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    assert (a["n"], a["n_responses"], a["n_cases"], a["agreed"]) == (6, 5, 3, 4)
    assert a["agreement"] == pytest.approx(4 / 6)
    # p_o = 24/36, p_e = (2*1 + 3*3 + 1*2)/36 = 13/36: kappa = 11/23
    assert a["kappa"] == pytest.approx(11 / 23)
    # appropriate vs not: [[2, 1], [1, 2]]: p_o = 2/3, p_e = 1/2
    assert a["kappa_binary"] == pytest.approx(1 / 3) and a["agreement_binary"] == pytest.approx(4 / 6)
    assert a["harms"] == {
        "credited": {"responses": 2, "flagged": 1, "share": 0.5},
        "not_credited": {"responses": 3, "flagged": 1, "share": pytest.approx(1 / 3)},
        "under": {"responses": 1, "flagged": 0, "share": 0.0},
        "over": {"responses": 2, "flagged": 1, "share": 0.5}}
    [arm] = result["readings"]["automatic"]["arms"]
    assert arm["arm"] == "A" and arm["kappa"] == pytest.approx(11 / 23)
    for key in ("agreement", "kappa", "kappa_binary"):
        lo, hi = a[f"{key}_ci"]
        assert lo <= a[key] <= hi
    assert "judge" not in result["readings"]  # no judge reading in the units
    assert result["meta"]["n_cases"] == 3 and result["meta"]["n_boot"] == 200


def test_kappa_matches_scikit_learn_on_random_answers():
    rng = np.random.default_rng(7)
    n = 400
    clinician = rng.choice(CATEGORIES, n, p=[0.3, 0.5, 0.2])
    # the reading agrees with the clinician two times in three, else says anything
    reading = np.where(rng.random(n) < 0.66, clinician, rng.choice(CATEGORIES, n))
    arms = rng.choice(["Baseline", "BehaviorSFT"], n)
    units = _units(list(zip(rng.integers(0, 60, n), np.arange(n), arms, clinician, reading, rng.integers(0, 2, n))))
    result = reading_agreement(units, arms=["Baseline", "BehaviorSFT"], n_boot=50)
    overall = result["readings"]["automatic"]["overall"]
    assert overall["kappa"] == pytest.approx(cohen_kappa_score(clinician, reading, labels=list(CATEGORIES)))
    binary = lambda xs: ["appropriate" if x == "appropriate" else "not" for x in xs]  # noqa: E731
    assert overall["kappa_binary"] == pytest.approx(cohen_kappa_score(binary(clinician), binary(reading)))
    for arm in result["readings"]["automatic"]["arms"]:
        mine = arms == arm["arm"]
        assert arm["n"] == mine.sum()
        assert arm["kappa"] == pytest.approx(cohen_kappa_score(clinician[mine], reading[mine],
                                                               labels=list(CATEGORIES)))
        assert arm["agreement"] == pytest.approx((clinician[mine] == reading[mine]).mean())


def test_the_interval_resamples_whole_cases():
    """The CI is the percentile interval of kappa over case resamples drawn as
    case_weights draws them: every answer of a case goes in or out with it."""
    rng = np.random.default_rng(11)
    n = 120
    clinician = rng.choice(CATEGORIES, n)
    reading = np.where(rng.random(n) < 0.5, clinician, rng.choice(CATEGORIES, n))
    case = rng.integers(0, 25, n)
    units = _units(list(zip(case, np.arange(n), ["A"] * n, clinician, reading, [0] * n)))
    result = reading_agreement(units, n_boot=300, seed=5)
    cases = np.sort(np.unique(case))
    weights = case_weights(len(cases), 300, 5)
    per_unit = weights[:, np.searchsorted(cases, case)]  # (n_boot, n_units): how often each answer is drawn
    kappas = []
    for w in per_unit:
        keep = np.repeat(np.arange(n), w.astype(int))
        kappas.append(cohen_kappa_score(clinician[keep], reading[keep], labels=list(CATEGORIES)))
    lo, hi = np.quantile(kappas, [0.025, 0.975])
    assert result["readings"]["automatic"]["overall"]["kappa_ci"] == pytest.approx([lo, hi])


def test_units_without_a_reading_are_left_out_and_constant_answers_have_no_kappa():
    rows = [(1, 1, "A", "appropriate", "appropriate", 0), (2, 2, "A", "under", "appropriate", 0),
            (3, 3, "A", "over", None, 0), (4, 4, "A", "maybe", "appropriate", 0)]
    a = reading_agreement(_units(rows), n_boot=20)["readings"]["automatic"]["overall"]
    assert a["n"] == 2 and a["agreement"] == 0.5
    assert a["kappa"] == pytest.approx(cohen_kappa_score(["appropriate", "under"], ["appropriate"] * 2)) == 0.0
    # both sides constant on one category: chance agreement is 1 and kappa is undefined
    same = reading_agreement(_units(rows[:1] * 3), n_boot=20)["readings"]["automatic"]["overall"]
    assert same["agreement"] == 1.0 and same["kappa"] is None and same["kappa_ci"] == [None, None]


def test_the_judge_reading_is_compared_with_the_terms_on_the_same_answers():
    judge = ["appropriate", "under", "under", None, "appropriate", "under"]
    result = reading_agreement(_units(HAND, judge=judge), n_boot=50)
    j = result["readings"]["judge"]
    assert j["overall"]["n"] == 5 and j["overall"]["agreed"] == 4
    same = j["terms_same_units"]["overall"]
    assert same["n"] == 5 and same["agreed"] == 3  # the terms on the same five answers (response 13 left out)
    assert result["readings"]["automatic"]["overall"]["n"] == 6


def test_no_units_gives_no_reading():
    result = reading_agreement(None)
    assert result["readings"] == {} and result["meta"]["n_units"] == 0
    assert agreement_rows(result) == []


def test_rows_for_the_dashboard_and_its_csv():
    rows = agreement_rows(reading_agreement(_units(HAND), arms=["A", "B"], n_boot=20))
    assert [r["arm"] for r in rows] == ["A", "all arms"]  # arm B has no answer
    assert rows[1]["kappa"] == pytest.approx(11 / 23) and rows[1]["credited_flagged_harmful"] == 1
    assert rows[1]["not_credited_responses"] == 3


def test_kappa_helpers_on_stacked_matrices():
    stacked = np.array([[[5, 0, 0], [0, 5, 0], [0, 0, 5]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
                        [[0, 3, 0], [0, 3, 0], [0, 0, 0]], [[0, 0, 0], [0, 4, 0], [0, 0, 0]]])
    kappas = kappa_from_confusion(stacked)
    assert kappas[0] == 1.0 and np.isnan(kappas[1])  # no units
    assert kappas[2] == 0.0  # one side constant: no agreement beyond chance
    assert np.isnan(kappas[3])  # both constant on one category: chance agreement 1
    assert binary_confusion(stacked)[0].tolist() == [[5, 0], [0, 10]]
    assert binary_confusion(stacked)[2].tolist() == [[3, 0], [3, 0]]
