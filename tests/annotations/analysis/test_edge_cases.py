"""Statistics edge cases a peer check found, each pinned: arms without data, incomplete
rankings, missing case ids, non-converged fits, tiny studies, undefined alpha, dropped
resamples and unclustered intervals."""

import numpy as np
import pandas as pd
import pytest

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.descriptives import describe_ratings
from annotations.analysis.paired import friedman
from annotations.analysis.position import first_choice_by_slot
from annotations.analysis.preferences import bradley_terry, pairwise_outcomes, ranking_comparisons
from annotations.analysis.summary import study_warnings
from annotations.views.dashboard import interval_text


def _pairs(n, winner_share=0.7, seed=0):
    """n rankings of arms a and b, one case each, a winning about ``winner_share``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a_first = i % 2 == 0
        a_wins = rng.random() < winner_share
        for arm, slot in (("a", 0 if a_first else 1), ("b", 1 if a_first else 0)):
            rows.append({"assignment_id": i, "case_id": i, "arm": arm, "slot": slot,
                         "rank": 1 if (arm == "a") == a_wins else 2})
    return pd.DataFrame(rows)


def test_an_arm_never_compared_is_left_out_of_bradley_terry():
    prefs = _pairs(40)
    with_c = bradley_terry(prefs, arms=["a", "b", "c"], n_boot=100)
    alone = bradley_terry(prefs, arms=["a", "b"], n_boot=100)
    assert with_c["arms_left_out"] == ["c"] and with_c["strength"][2] is None
    assert with_c["strength"][:2] == pytest.approx(alone["strength"])
    assert with_c["strength_ci"][2] == [None, None] and with_c["win_probability"][2] == [None, None, None]


def test_friedman_tests_the_arms_with_data_and_names_the_others():
    rng = np.random.default_rng(1)
    matrix = np.column_stack([rng.normal(size=12) + shift for shift in (0, 1, 2)] + [np.full(12, np.nan)])
    result = friedman(matrix, ["a", "b", "c", "d"])
    assert result["k"] == 3 and result["n"] == 12 and result["p_value"] is not None
    assert result["arms_left_out"] == ["d"]


def test_a_ranking_with_a_missing_rank_is_not_counted_as_fewer_slots():
    prefs = pd.DataFrame({"assignment_id": [1, 1, 1, 2, 2, 2], "slot": [0, 1, 2, 0, 1, 2],
                          "rank": [1, 2, 3, 1, None, 2]})
    records = first_choice_by_slot(prefs)
    assert [r["n_slots"] for r in records] == [3]
    assert records[0]["n_rankings"] == 1 and records[0]["n_incomplete"] == 1


def test_a_missing_case_id_is_named_as_such():
    boot = CaseBootstrap.draw([1, 2], n_boot=10)
    with pytest.raises(ValueError, match="no case id"):
        boot.codes([1, np.nan])


def test_a_bradley_terry_fit_that_does_not_converge_shows_no_interval():
    prefs = _pairs(30, winner_share=1.0)  # a always wins: no finite maximum
    result = bradley_terry(prefs, arms=["a", "b"], n_boot=100)
    assert result["converged"] is False
    assert result["strength_ci"] == [[None, None], [None, None]] and "did not converge" in result["note"]


def test_tiny_studies_and_left_out_arms_are_warned_about():
    result = {"meta": {"n_cases": 1, "n_boot": 100}, "paired_tests": [{"friedman": {"arms_left_out": ["d"]}}],
              "preferences": {"bradley_terry": {"arms_left_out": ["c"]}}, "descriptives": {"records": []}}
    warnings = study_warnings(result)
    assert any("zero width" in w for w in warnings)
    assert any("never ranked" in w and "c" in w for w in warnings)
    assert any("Rank tests" in w and "d" in w for w in warnings)


def test_an_undefined_alpha_reads_as_undefined():
    assert interval_text(None, [None, None]).startswith("undefined")
    assert interval_text(0.5, None) == "0.50 (no interval)"
    assert interval_text(0.5, [0.2, 0.7]) == "0.50 [0.20, 0.70]"


def test_resamples_that_drew_no_case_of_a_group_are_counted():
    ratings = pd.DataFrame({"case_id": [1, 2, 3], "arm": ["a"] * 3, "dimension": ["realism"] * 3,
                            "value": [3.0, 4.0, 5.0], "category": ["x", "x", "y"], "task": ["t"] * 3})
    out = describe_ratings(ratings, [{"key": "realism", "scale": "likert", "min": 1, "max": 5}], n_boot=300,
                           scopes=("overall", "category"))
    by_group = {(r["scope"], r["group"]): r for r in out["records"]}
    assert by_group[("overall", None)]["n_boot_dropped"] == 0
    assert 0 < by_group[("category", "y")]["n_boot_dropped"] < 300  # about (2/3)^3 of the resamples


def test_win_rate_intervals_say_they_are_not_clustered():
    prefs = _pairs(10)
    assert "not clustered" in pairwise_outcomes(ranking_comparisons(prefs, ["a", "b"]))["ci_method"]
