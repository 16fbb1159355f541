import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.judgments import categorical_shares, choice_shares
from bench.synthetic_study import synthetic_study

DIMS = [{"key": "intervention", "scale": "categorical",
         "choices": [["under", "Under"], ["appropriate", "Appropriate"], ["over", "Over"]]}]


def _frame():
    # arm x: under, appropriate, appropriate, over ; arm y: appropriate x3 (and one missing)
    return pd.DataFrame({
        "case_id": [1, 1, 2, 2, 3, 3, 4, 4],
        "arm": ["x", "y", "x", "y", "x", "y", "x", "y"],
        "dimension": "intervention",
        "value": ["under", "appropriate", "appropriate", "appropriate", "appropriate", "appropriate", "over", None],
        "category": ["proactive", "proactive", "proactive", "proactive", "reactive", "reactive", "reactive",
                     "reactive"],
    })


def test_counts_shares_and_wilson_intervals_by_hand():
    out = categorical_shares(_frame(), DIMS, level=0.95)
    overall = {r["arm"]: r for r in out if r["scope"] == "overall"}
    x, y = overall["x"], overall["y"]
    assert x["choices"] == ["under", "appropriate", "over"]
    assert x["counts"] == [1, 2, 1] and x["n"] == 4 and x["shares"] == [0.25, 0.5, 0.25]
    assert y["counts"] == [0, 3, 0] and y["n"] == 3
    lo, hi = proportion_confint([1, 2, 1], 4, method="wilson")
    assert x["ci_low"] == pytest.approx(list(lo)) and x["ci_high"] == pytest.approx(list(hi))
    assert y["ci_low"][0] == pytest.approx(0.0, abs=1e-12) and y["ci_high"][1] == pytest.approx(1.0)
    by_cat = {(r["group"], r["arm"]): r for r in out if r["scope"] == "category"}
    assert by_cat[("proactive", "x")]["counts"] == [1, 1, 0]
    assert by_cat[("reactive", "y")]["counts"] == [0, 1, 0]


def test_cluster_bootstrap_intervals_equal_brute_force():
    s = synthetic_study(n_cases=30, n_raters=6, raters_per_case=2.5, seed=3)
    j = s["judgments"]
    boot = CaseBootstrap.draw(j["case_id"], n_boot=30, seed=2)
    out = choice_shares(j, "intervention", choices=["under", "appropriate", "over"], arms=["Baseline"],
                        by=None, bootstrap=boot, level=0.8)
    (rec,) = out
    by_case = j[j["arm"] == "Baseline"].set_index("case_id")
    shares = []
    for b in range(boot.n_boot):
        frame = by_case.loc[np.repeat(boot.cases.to_numpy(), boot.weights[b].astype(int))]
        shares.append([np.mean(frame["value"] == c) for c in ["under", "appropriate", "over"]])
    lo, hi = np.quantile(np.array(shares), [0.1, 0.9], axis=0)
    assert rec["boot_ci_low"] == pytest.approx(list(lo), abs=1e-12)
    assert rec["boot_ci_high"] == pytest.approx(list(hi), abs=1e-12)


def test_recovers_generating_probabilities():
    s = synthetic_study(n_cases=1500, n_raters=30, raters_per_case=3, seed=1)
    out = categorical_shares(s["judgments"], s["dimensions"], by=None, arms=s["truth"]["arms"])
    for a, rec in enumerate(out):
        truth = s["truth"]["intervention_probs"][a]
        assert np.all(np.array(rec["ci_low"]) < truth + 0.01) and np.all(np.array(rec["ci_high"]) > truth - 0.01)
        assert rec["shares"] == pytest.approx(list(truth), abs=0.03)


def test_empty_and_unknown_values():
    assert categorical_shares(None, DIMS) == []
    frame = _frame().assign(value=["under", "weird"] * 4)
    (x, y) = [r for r in categorical_shares(frame, DIMS, by=None)]
    assert x["choices"] == ["under", "appropriate", "over", "weird"] and x["counts"] == [4, 0, 0, 0]
    assert y["counts"] == [0, 0, 0, 4]
