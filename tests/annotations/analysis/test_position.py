import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.position import first_choice_by_slot, likert_by_slot
from bench.synthetic_study import synthetic_study


def _prefs(rows):
    return pd.DataFrame(rows, columns=["assignment_id", "case_id", "arm", "slot", "rank"])


def test_first_choice_counts_ties_excluded_and_tests_equal_scipy():
    rows = []
    # 3-slot rankings; best in slot 0 for 5, slot 1 for 2, slot 2 for 2; one tie for first.
    best_slots = [0, 0, 0, 0, 0, 1, 1, 2, 2]
    for a, best in enumerate(best_slots):
        for s in range(3):
            rows.append((a, a, f"arm{s}", s, 1 if s == best else 2 + (s > best)))
    rows += [(99, 99, "arm0", 0, 1), (99, 99, "arm1", 1, 1), (99, 99, "arm2", 2, 3)]
    # One 2-slot ranking.
    rows += [(100, 100, "arm0", 0, 2), (100, 100, "arm1", 1, 1)]
    out = {r["n_slots"]: r for r in first_choice_by_slot(_prefs(rows))}
    three = out[3]
    assert three["counts"] == [5, 2, 2] and three["n_rankings"] == 9 and three["n_tied_first"] == 1
    assert three["expected_share"] == pytest.approx(1 / 3)
    chi = stats.chisquare([5, 2, 2])
    assert three["chi2"] == pytest.approx(chi.statistic) and three["p_value"] == pytest.approx(chi.pvalue)
    assert three["binom_p_values"][0] == pytest.approx(stats.binomtest(5, 9, 1 / 3).pvalue)
    assert out[2]["counts"] == [0, 1] and out[2]["n_rankings"] == 1


def test_detects_a_position_bias_in_rankings():
    s = synthetic_study(n_cases=400, n_raters=20, raters_per_case=3, preference_position=0.6, seed=3)
    (rec,) = first_choice_by_slot(s["preferences"])
    assert rec["shares"][0] > 0.4 and rec["p_value"] < 1e-6 and rec["ci_low"][0] > 1 / 3
    s = synthetic_study(n_cases=400, n_raters=20, raters_per_case=3, preference_position=0.0, seed=3)
    (rec,) = first_choice_by_slot(s["preferences"])
    assert rec["p_value"] > 0.001 and rec["ci_low"][0] < 1 / 3 < rec["ci_high"][0]


def test_likert_by_slot_by_hand():
    # One response (case 1, arm x) rated 4 in slot 0 and 2 in slot 1: slot effects +1, -1
    # (their difference is the within-response difference, 2; they sum to 0).
    # Another (case 2, arm y) rated 3 by one rater only: it counts for the mean, not the effect.
    ratings = pd.DataFrame({"case_id": [1, 1, 2], "arm": ["x", "x", "y"], "slot": [0, 1, 0], "dimension": "q",
                            "value": [4.0, 2.0, 3.0]})
    out = likert_by_slot(ratings, [{"key": "q", "scale": "likert", "min": 1, "max": 5}])
    s0, s1 = out
    assert (s0["n"], s0["mean"], s0["n_effect"]) == (2, 3.5, 1) and s0["slot_effect"] == pytest.approx(1.0)
    assert (s1["n"], s1["mean"]) == (1, 2.0) and s1["slot_effect"] == pytest.approx(-1.0)


def test_slot_effects_equal_a_fixed_effects_regression():
    # Exactly additive data: score = response effect + slot effect; unbalanced slots.
    rng = np.random.default_rng(0)
    slot_true = np.array([0.4, -0.1, -0.3])
    rows = []
    for unit in range(30):
        level = rng.normal(3, 1)
        for s in rng.choice(3, size=rng.integers(1, 5)):
            rows.append((unit, "x", int(s), "q", level + slot_true[s] + rng.normal(0, 0.2)))
    ratings = pd.DataFrame(rows, columns=["case_id", "arm", "slot", "dimension", "value"])
    out = likert_by_slot(ratings, [{"key": "q", "scale": "likert", "min": 1, "max": 5}])
    # Least squares with unit dummies and slot dummies (sum-to-zero via centring).
    units = ratings["case_id"].to_numpy()
    keep = np.bincount(units)[units] >= 2
    X = np.concatenate([np.eye(30)[units], np.eye(3)[ratings["slot"].to_numpy()]], axis=1)[keep]
    coef = np.linalg.lstsq(X, ratings["value"].to_numpy()[keep], rcond=None)[0]
    ref = coef[30:] - coef[30:].mean()
    np.testing.assert_allclose([r["slot_effect"] for r in out], ref, atol=1e-9)


def test_slot_effect_recovers_a_generated_position_effect_with_bootstrap_ci():
    s = synthetic_study(n_cases=600, n_raters=20, raters_per_case=3, slot_effect=0.3, seed=6)
    boot = CaseBootstrap.draw(s["ratings"]["case_id"], n_boot=200, seed=0)
    out = [r for r in likert_by_slot(s["ratings"], s["dimensions"], bootstrap=boot) if r["dimension"] == "realism"]
    effect = np.array([r["slot_effect"] for r in out])
    # The latent score drops 0.3 a slot: +0.3, 0, -0.3 around the average slot (rounding
    # to the 1-5 scale attenuates it a little).
    np.testing.assert_allclose(effect, [0.3, 0.0, -0.3], atol=0.06)
    for r, truth in zip(out, [0.3, 0.0, -0.3]):
        assert r["slot_effect_ci"][0] < truth < r["slot_effect_ci"][1]
        assert r["mean_ci"][0] < r["mean"] < r["mean_ci"][1]
    s = synthetic_study(n_cases=600, n_raters=20, raters_per_case=3, slot_effect=0.0, seed=6)
    out = [r for r in likert_by_slot(s["ratings"], s["dimensions"], bootstrap=boot) if r["dimension"] == "realism"]
    assert all(r["slot_effect_ci"][0] < 0 < r["slot_effect_ci"][1] for r in out)
