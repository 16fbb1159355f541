"""Judge-clinician concordance: numbers checked against scipy and the krippendorff
package; the bootstrap's weighted statistics against the expanded samples."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.concordance import (
    density_curve,
    group_means,
    interval_alpha,
    interval_alpha_parts,
    judge_analysis,
    judge_concordance,
    weighted_midranks,
    weighted_spearman,
)
from annotations.analysis.judge_consistency import pairwise_consistency

LIKERT = {"key": "realism", "scale": "likert", "min": 1, "max": 5}
ARMS = ["Baseline", "GeneralSFT", "BehaviorSFT"]


def synthetic(n_cases=30, n_raters=3, seed=1):
    """Clinicians rate each (case, arm) on 1-5 around a latent quality; the judge's
    continuous score follows the same latent quality, with noise."""
    rng = np.random.default_rng(seed)
    ratings, judge = [], []
    for case in range(n_cases):
        for a, arm in enumerate(ARMS):
            latent = 2.0 + a + rng.normal(0, 0.8)
            for rater in rng.choice(8, size=n_raters, replace=False):
                if rng.random() < 0.1:  # some ratings missing
                    continue
                ratings.append({"case_id": case, "arm": arm, "rater_id": int(rater), "dimension": "realism",
                                "value": float(np.clip(np.rint(latent + rng.normal(0, 0.7)), 1, 5))})
            judge.append({"case_id": case, "arm": arm, "dimension": "realism",
                          "value": float(np.clip(latent + rng.normal(0, 0.6), 1, 5))})
            judge.append({"case_id": case, "arm": arm, "dimension": "specificity",
                          "value": float(np.clip(0.3 + 0.2 * a + rng.normal(0, 0.1), 0, 1))})
    return pd.DataFrame(judge), pd.DataFrame(ratings)


def reliability_matrix(frame: pd.DataFrame, unit_columns=("case_id", "arm")) -> np.ndarray:
    """raters x units, NaN where missing (the krippendorff package's input)."""
    wide = frame.pivot_table(index="rater_id", columns=list(unit_columns), values="value", aggfunc="first")
    return wide.to_numpy(dtype=float)


def test_weighted_spearman_is_spearman_of_the_expanded_sample():
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=40), 1)  # ties
    y = x + rng.normal(size=40)
    y[:5] = y[0]
    w = rng.integers(0, 4, size=(6, 40))
    got = weighted_spearman(x, y, w)
    for row, value in zip(w, got):
        expected = stats.spearmanr(np.repeat(x, row), np.repeat(y, row)).statistic
        assert value == pytest.approx(expected, abs=1e-12)
    assert weighted_spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    ranks = weighted_midranks(x, np.ones_like(x))
    assert np.allclose(ranks, stats.rankdata(x))


def test_interval_alpha_from_sums_matches_krippendorff():
    rng = np.random.default_rng(3)
    data = rng.normal(3, 1, size=(4, 25))
    data[rng.random(data.shape) < 0.2] = np.nan
    units = np.tile(np.arange(25), 4)
    values = data.ravel()
    ok = np.isfinite(values)
    parts = interval_alpha_parts(units[ok], values[ok], 25)
    assert float(interval_alpha(parts.sum(axis=0))) == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="interval"), abs=1e-10)


def test_concordance_matches_scipy_and_krippendorff():
    judge, ratings = synthetic()
    [record] = judge_concordance(judge, ratings, [LIKERT], n_boot=300, seed=7)

    # Spearman: judge score vs mean clinician rating per response
    clin = ratings.groupby(["case_id", "arm"])["value"].mean()
    jud = judge[judge["dimension"] == "realism"].set_index(["case_id", "arm"])["value"]
    both = pd.concat([jud.rename("j"), clin.rename("c")], axis=1, join="inner")
    expected = stats.spearmanr(both["j"], both["c"])
    assert record["n_units"] == len(both) > 80 and record["n_cases"] == 30
    assert record["spearman_rho"] == pytest.approx(expected.statistic, abs=1e-12)
    assert record["spearman_p"] == pytest.approx(expected.pvalue, rel=1e-9)
    lo, hi = record["spearman_ci"]
    assert lo < record["spearman_rho"] < hi and hi - lo < 0.5
    assert record["mean_difference"] == pytest.approx((both["j"] - both["c"]).mean())

    # Krippendorff: clinicians alone, then the judge as one more rater
    alone = reliability_matrix(ratings)
    assert record["alpha_clinicians"] == pytest.approx(
        krippendorff.alpha(reliability_data=alone, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]),
        abs=1e-10)
    as_rater = jud.reset_index().assign(rater_id="judge", value=lambda f: np.clip(np.floor(f["value"] + 0.5), 1, 5))
    with_judge = reliability_matrix(pd.concat([ratings, as_rater], ignore_index=True))
    assert record["alpha_with_judge"] == pytest.approx(
        krippendorff.alpha(reliability_data=with_judge, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]),
        abs=1e-10)
    raw = reliability_matrix(pd.concat([ratings, jud.reset_index().assign(rater_id="judge")], ignore_index=True))
    assert record["alpha_interval_with_judge"] == pytest.approx(
        krippendorff.alpha(reliability_data=raw, level_of_measurement="interval"), abs=1e-10)
    assert record["alpha_interval_clinicians"] == pytest.approx(
        krippendorff.alpha(reliability_data=alone, level_of_measurement="interval"), abs=1e-10)
    for key in ("alpha_clinicians", "alpha_with_judge", "alpha_interval_with_judge"):
        lo, hi = record[f"{key}_ci"]
        assert lo <= record[key] <= hi
    assert record["alpha_change_ci"][0] <= record["alpha_with_judge"] - record["alpha_clinicians"] <= \
        record["alpha_change_ci"][1]


def test_bootstrap_ci_is_the_percentile_of_resampled_cases():
    """The CI of rho comes from resampling whole cases: check one resample by hand."""
    judge, ratings = synthetic(n_cases=12)
    boot = CaseBootstrap.draw(judge["case_id"], n_boot=50, seed=5)
    [record] = judge_concordance(judge, ratings, [LIKERT], bootstrap=boot)
    clin = ratings.groupby(["case_id", "arm"])["value"].mean()
    jud = judge[judge["dimension"] == "realism"].set_index(["case_id", "arm"])["value"]
    both = pd.concat([jud.rename("j"), clin.rename("c")], axis=1, join="inner").reset_index()
    replicates = []
    for weights in boot.weights:
        rows = both.loc[np.repeat(both.index, weights[boot.codes(both["case_id"])].astype(int))]
        replicates.append(stats.spearmanr(rows["j"], rows["c"]).statistic)
    assert record["spearman_ci"] == pytest.approx(list(np.quantile(replicates, [0.025, 0.975])), abs=1e-9)


def test_dimensions_only_the_judge_scores_are_left_out_of_concordance():
    judge, ratings = synthetic(n_cases=5)
    spec = {"key": "specificity", "scale": "likert", "min": 1, "max": 5}
    [record] = judge_concordance(judge, ratings, [spec], n_boot=10)
    assert record["n_units"] == 0 and record["spearman_rho"] is None
    assert judge_concordance(judge, None, [LIKERT]) == []


def test_group_means_and_densities():
    judge, ratings = synthetic(n_cases=20)
    boot = CaseBootstrap.draw(judge["case_id"], n_boot=200, seed=2)
    records = group_means(judge, ["realism", "specificity"], ARMS, boot, source="judge")
    by = {(r["dimension"], r["arm"]): r for r in records}
    for arm in ARMS:
        values = judge[(judge["arm"] == arm) & (judge["dimension"] == "specificity")]["value"]
        r = by[("specificity", arm)]
        assert r["mean"] == pytest.approx(values.mean()) and r["n"] == 20 and r["n_cases"] == 20
        assert r["median"] == pytest.approx(values.median()) and r["sd"] == pytest.approx(values.std())
        assert r["mean_ci"][0] < r["mean"] < r["mean_ci"][1]
    curve = density_curve([0.9, 0.95, 0.85, 1.0, 0.92], 0.0, 1.0)
    x, y = np.array(curve["x"]), np.array(curve["y"])
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.01)  # reflection keeps the mass inside [0, 1]
    assert x[np.argmax(y)] > 0.85
    assert density_curve([], 0, 1)["n"] == 0


def test_pairwise_consistency():
    comparisons = pd.DataFrame([
        # consistent preference for a
        {"case_id": 1, "arm_a": "Baseline", "arm_b": "BehaviorSFT", "prob_a_first": 0.8, "prob_a_second": 0.6},
        # always picks the first shown: inconsistent
        {"case_id": 2, "arm_a": "Baseline", "arm_b": "BehaviorSFT", "prob_a_first": 0.7, "prob_a_second": 0.2},
        # consistent for b, given in the other orientation
        {"case_id": 3, "arm_a": "BehaviorSFT", "arm_b": "Baseline", "prob_a_first": 0.9, "prob_a_second": 0.9},
        # undecided in one order
        {"case_id": 4, "arm_a": "Baseline", "arm_b": "BehaviorSFT", "prob_a_first": 0.5, "prob_a_second": 0.9},
    ])
    result = pairwise_consistency(comparisons, arms=["Baseline", "BehaviorSFT"])
    assert (result["n_pairs"], result["n_decided"], result["n_consistent"]) == (4, 3, 2)
    assert result["consistency"] == pytest.approx(2 / 3)
    # decisions for the first-shown response: pair 1: a(first) yes, b-first order prefers a -> no;
    # pair 2: yes, yes; pair 3: yes, no
    assert result["first_position_rate"] == pytest.approx(4 / 6)
    assert result["first_position_p"] == pytest.approx(stats.binomtest(4, 6, 0.5).pvalue)
    [pair] = result["pairs"]
    assert (pair["arm_a"], pair["arm_b"], pair["n"], pair["wins_a"], pair["wins_b"]) == \
        ("Baseline", "BehaviorSFT", 4, 1, 1)
    assert pair["mean_prob_a"] == pytest.approx(np.mean([0.7, 0.45, 0.1, 0.7]))
    assert pairwise_consistency(None) is None


def test_judge_analysis_bundles_everything():
    judge, ratings = synthetic(n_cases=10)
    dims = [{"key": "realism", "min": 1, "max": 5, "out_min": 1, "out_max": 5},
            {"key": "specificity", "min": 1, "max": 5, "out_min": 0, "out_max": 1}]
    result = judge_analysis(judge, ratings, dims, [LIKERT, {"key": "intervention", "scale": "categorical"}],
                            arms=ARMS, n_boot=100)
    assert result["meta"]["shared_dimensions"] == ["realism"] and result["meta"]["n_cases"] == 10
    sources = {(m["source"], m["dimension"]) for m in result["means"]}
    assert sources == {("judge", "realism"), ("judge", "specificity"), ("clinicians", "realism")}
    assert {(d["dimension"], d["arm"]) for d in result["densities"]} == {(k, a) for k in ("realism", "specificity")
                                                                          for a in ARMS}
    assert [c["dimension"] for c in result["concordance"]] == ["realism"]
    n_rated = len(ratings.groupby(["case_id", "arm"]))
    assert len(result["scatter"][0]["judge"]) == n_rated > 25 and result["pairwise"] is None
