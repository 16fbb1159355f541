from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from annotations.analysis.paired import case_arm_means, friedman, holm, paired_tests, rank_biserial
from annotations.analysis.rank_tests import skillings_mack
from bench.synthetic_study import synthetic_study

ARMS = ["Baseline", "GeneralSFT", "BehaviorSFT"]


def test_rank_biserial_hand_examples():
    # |d| ranks 1, 2, 3, 4; T+ = 1 + 2 + 4 = 7, T- = 3: r = (7 - 3) / 10.
    assert rank_biserial([1, 2, -3, 4]) == pytest.approx(0.4)
    # Zeros are dropped; tied |d| get average ranks: |d| = 1, 1, 2 -> 1.5, 1.5, 3;
    # T+ = 1.5 + 3, T- = 1.5: r = 3 / 6.
    assert rank_biserial([0, 1, -1, 2, 0]) == pytest.approx(0.5)
    assert rank_biserial([2, 3]) == 1.0 and rank_biserial([-1]) == -1.0
    assert np.isnan(rank_biserial([0, 0]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(1e-6, 1.0), st.sampled_from([0.01, 0.02, 0.5])), min_size=1,
                max_size=8), st.sampled_from([0.01, 0.05]))
def test_holm_equals_statsmodels(p_values, alpha):
    adjusted, reject = holm(p_values, alpha=alpha)
    finite = [p for p in p_values if p is not None]
    if finite:
        with mock.patch("gc.collect", return_value=0):  # statsmodels' holm calls it: slow
            rej, adj, _, _ = multipletests(finite, alpha=alpha, method="holm")
        assert [a for a in adjusted if a is not None] == pytest.approx(list(adj), abs=1e-15)
        assert [r for r in reject if r is not None] == list(rej)
    assert [a is None for a in adjusted] == [p is None for p in p_values]


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n_cases=80, n_raters=10, raters_per_case=2.5, seed=4)


def _pivot(ratings, dim):
    rows = ratings[ratings["dimension"] == dim]
    return rows.pivot_table(index="case_id", columns="arm", values="value", aggfunc="mean")[ARMS]


def test_case_arm_means_equal_pivot_table(study):
    cases, matrix = case_arm_means(study["ratings"], "realism", ARMS)
    ref = _pivot(study["ratings"], "realism").reindex(cases)
    np.testing.assert_allclose(matrix, ref.to_numpy(), rtol=1e-12)


def test_paired_tests_equal_scipy_on_per_case_means(study):
    ratings, dims = study["ratings"], study["dimensions"]
    # Knock out a few ratings so that some cases miss an arm.
    ratings = ratings.drop(ratings[(ratings["arm"] == "GeneralSFT") & (ratings["case_id"] <= 6)].index)
    result = paired_tests(ratings, dims, arms=ARMS, by="category")
    overall = [r for r in result if r["scope"] == "overall"]
    assert [r["dimension"] for r in overall] == ["realism", "proactivity", "helpfulness", "safety"]
    for rec in result:
        frame = ratings if rec["scope"] == "overall" else ratings[ratings["category"] == rec["group"]]
        pivot = _pivot(frame, rec["dimension"])
        complete = pivot.dropna()
        if len(complete) < len(pivot):  # cases missing an arm: every case counts, not the complete ones only
            assert rec["friedman"]["test"] == "skillings_mack" and rec["friedman"]["n"] == len(pivot)
            assert rec["friedman"]["statistic"] == pytest.approx(skillings_mack(pivot.to_numpy())["statistic"])
        else:
            fr = stats.friedmanchisquare(*[complete[a] for a in ARMS])
            assert rec["friedman"]["test"] == "friedman" and rec["friedman"]["n"] == len(complete)
            assert rec["friedman"]["statistic"] == pytest.approx(fr.statistic, rel=1e-12)
            assert rec["friedman"]["p_value"] == pytest.approx(fr.pvalue, rel=1e-9)
        ps = []
        for pair in rec["pairwise"]:
            both = pivot[[pair["arm_a"], pair["arm_b"]]].dropna()
            d = both[pair["arm_a"]] - both[pair["arm_b"]]
            ref = stats.wilcoxon(d, zero_method="pratt")
            assert pair["n"] == len(d) and pair["n_zero"] == int((d == 0).sum())
            assert pair["statistic"] == pytest.approx(ref.statistic)
            assert pair["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
            assert pair["median_difference"] == pytest.approx(np.median(d), abs=1e-12)
            assert pair["mean_difference"] == pytest.approx(d.mean(), abs=1e-12)
            assert pair["rank_biserial"] == pytest.approx(rank_biserial(d.to_numpy()))
            ps.append(ref.pvalue)
        with mock.patch("gc.collect", return_value=0):
            ref_holm = multipletests(ps, method="holm")[1]
        assert [p["p_holm"] for p in rec["pairwise"]] == pytest.approx(list(ref_holm), rel=1e-9)
    # Fewer cases in the GeneralSFT pairs than in Baseline vs BehaviorSFT.
    pairs = {(p["arm_a"], p["arm_b"]): p for p in overall[0]["pairwise"]}
    assert pairs[("Baseline", "GeneralSFT")]["n"] == 74 and pairs[("Baseline", "BehaviorSFT")]["n"] == 80


def test_direction_of_effects_on_a_clear_difference():
    s = synthetic_study(n_cases=150, n_raters=12, raters_per_case=3, seed=9)
    result = paired_tests(s["ratings"], s["dimensions"], arms=ARMS, by=None)
    proact = next(r for r in result if r["dimension"] == "proactivity")
    base_vs_behavior = next(p for p in proact["pairwise"] if p["arm_b"] == "BehaviorSFT" and p["arm_a"] == "Baseline")
    # Generated with means 2.6 vs 3.6: BehaviorSFT clearly ahead.
    assert base_vs_behavior["p_holm"] < 1e-10 and base_vs_behavior["reject_holm"]
    assert base_vs_behavior["rank_biserial"] < -0.6 and base_vs_behavior["mean_difference"] < -0.7
    assert proact["friedman"]["p_value"] < 1e-10


def test_friedman_needs_three_arms_and_two_cases():
    assert friedman(np.ones((10, 2)))["statistic"] is None
    assert friedman(np.array([[1.0, 2.0, 3.0]]))["statistic"] is None
    assert friedman(np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [np.nan, 1.0, 1.0]]))["n"] == 2


def test_all_zero_differences_give_no_test():
    ratings = pd.DataFrame({"case_id": [1, 1, 2, 2], "arm": ["a", "b"] * 2, "dimension": "q",
                            "value": [3.0, 3.0, 4.0, 4.0]})
    (rec,) = paired_tests(ratings, [{"key": "q", "scale": "likert", "min": 1, "max": 5}], by=None)
    (pair,) = rec["pairwise"]
    assert pair["n"] == 2 and pair["n_zero"] == 2 and pair["p_value"] is None and pair["p_holm"] is None
    assert rec["friedman"]["statistic"] is None
