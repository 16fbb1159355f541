import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.descriptives import describe_ratings, median_from_counts, stats_from_counts
from bench.synthetic_study import synthetic_study

ARMS = ["Baseline", "GeneralSFT", "BehaviorSFT"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=40))
def test_stats_from_counts_equal_numpy_on_the_expanded_sample(sample):
    levels = np.arange(1, 6, dtype=float)
    counts = np.bincount(sample, minlength=6)[1:]
    got = stats_from_counts(counts, levels)
    x = np.array(sample, dtype=float)
    assert got["n"] == len(x)
    assert got["mean"] == pytest.approx(x.mean())
    assert got["median"] == np.median(x)
    if len(x) > 1:
        assert got["sd"] == pytest.approx(x.std(ddof=1), abs=1e-12)
    else:
        assert np.isnan(got["sd"])


def test_median_from_counts_even_n_vectorised_and_empty():
    levels = np.array([1.0, 2.0, 3.0, 4.0])
    counts = np.array([[1, 1, 0, 0], [0, 2, 0, 2], [0, 0, 0, 0], [3, 0, 0, 1]])
    got = median_from_counts(counts, levels)
    assert got[:2].tolist() == [1.5, 3.0] and np.isnan(got[2]) and got[3] == 1.0


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n_cases=45, n_raters=8, raters_per_case=2.6, seed=11)


def _record(result, scope, group, dim, arm):
    return next(r for r in result["records"]
                if r["scope"] == scope and r["group"] == group and r["dimension"] == dim and r["arm"] == arm)


def test_point_estimates_equal_pandas(study):
    ratings, dims = study["ratings"], study["dimensions"]
    result = describe_ratings(ratings, dims, arms=ARMS, n_boot=0)
    for scope in ("overall", "category", "task"):
        keys = ["dimension", "arm"] if scope == "overall" else [scope, "dimension", "arm"]
        ref = ratings.groupby(keys)["value"].agg(["size", "mean", "median", "std"])
        ncase = ratings.groupby(keys)["case_id"].nunique()
        for key, row in ref.iterrows():
            group = None if scope == "overall" else key[0]
            dim, arm = key[-2], key[-1]
            rec = _record(result, scope, group, dim, arm)
            assert rec["n"] == row["size"] and rec["n_cases"] == ncase[key]
            assert rec["mean"] == pytest.approx(row["mean"], abs=1e-12)
            assert rec["median"] == row["median"]
            assert rec["sd"] == pytest.approx(row["std"], abs=1e-12)
            counts = ratings.set_index(keys).loc[key, "value"].value_counts()
            assert rec["counts"] == [int(counts.get(v, 0)) for v in rec["levels"]]
            assert rec["levels"] == [1, 2, 3, 4, 5]


def test_bootstrap_cis_equal_brute_force_resampling_of_the_raw_frame(study):
    """The vectorised CIs (weights @ per-case level counts) must equal percentiles of
    statistics recomputed on explicitly resampled frames (cases drawn with repetition)."""
    ratings, dims = study["ratings"], study["dimensions"]
    boot = CaseBootstrap.draw(ratings["case_id"], n_boot=40, seed=5)
    result = describe_ratings(ratings, dims, arms=ARMS, bootstrap=boot, level=0.9)
    by_case = ratings.set_index("case_id")
    means, medians, diffs = [], [], []
    for b in range(boot.n_boot):
        drawn = np.repeat(boot.cases.to_numpy(), boot.weights[b].astype(int))
        frame = by_case.loc[drawn].reset_index()
        stats = frame.groupby(["category", "dimension", "arm"])["value"].agg(["mean", "median"])
        means.append(stats["mean"])
        medians.append(stats["median"])
        overall = frame.groupby(["dimension", "arm"])["value"].mean()
        diffs.append(overall.xs("realism")["Baseline"] - overall.xs("realism")["BehaviorSFT"])
    means = pd.concat(means, axis=1)  # rows: (category, dim, arm); columns: resamples (NaN: not drawn)
    medians = pd.concat(medians, axis=1)
    for key in means.index:
        rec = _record(result, "category", key[0], key[1], key[2])
        m = means.loc[key].dropna().to_numpy()
        md = medians.loc[key].dropna().to_numpy()
        assert rec["mean_ci"] == pytest.approx(list(np.quantile(m, [0.05, 0.95])), abs=1e-12)
        assert rec["median_ci"] == pytest.approx(list(np.quantile(md, [0.05, 0.95])), abs=1e-12)
    diff = next(d for d in result["differences"] if d["scope"] == "overall" and d["dimension"] == "realism"
                and d["arm_a"] == "Baseline" and d["arm_b"] == "BehaviorSFT")
    assert diff["ci"] == pytest.approx(list(np.quantile(diffs, [0.05, 0.95])), abs=1e-12)


def test_cluster_bootstrap_ci_reflects_case_clustering():
    """With a strong case effect, the cluster-bootstrap CI of a mean is wider than the
    naive i.i.d. one, and it covers the true arm mean."""
    s = synthetic_study(n_cases=300, n_raters=20, raters_per_case=3, case_sd=1.0, noise_sd=0.3, seed=2)
    ratings, dims = s["ratings"], s["dimensions"]
    rec = _record(describe_ratings(ratings, dims, arms=ARMS, n_boot=400, seed=1, scopes=("overall",)),
                  "overall", None, "realism", "GeneralSFT")
    x = ratings[(ratings["dimension"] == "realism") & (ratings["arm"] == "GeneralSFT")]["value"]
    naive_half_width = 1.96 * x.std() / np.sqrt(len(x))
    assert (rec["mean_ci"][1] - rec["mean_ci"][0]) / 2 > 1.3 * naive_half_width
    assert rec["mean_ci"][0] < rec["mean"] < rec["mean_ci"][1]


def test_arm_order_other_dimensions_and_missing_values_are_ignored():
    ratings = pd.DataFrame({
        "case_id": [1, 1, 2, 2, 2, 3],
        "arm": ["x", "y", "x", "y", "y", "x"],
        "dimension": ["q", "q", "q", "q", "other", "q"],
        "value": [1.0, 5.0, 3.0, np.nan, 2.0, 5.0],
        "category": ["reactive"] * 6, "task": ["t"] * 6,
    })
    dims = [{"key": "q", "scale": "likert", "min": 1, "max": 5}]
    result = describe_ratings(ratings, dims, n_boot=20, seed=0, scopes=("overall",))
    assert [r["arm"] for r in result["records"]] == ["x", "y"]
    x, y = result["records"]
    assert (x["n"], x["mean"], x["median"]) == (3, 3.0, 3.0)
    assert (y["n"], y["mean"], y["n_cases"]) == (1, 5.0, 1)
    assert np.isnan(y["sd"])
    assert result["differences"][0]["mean_difference"] == pytest.approx(-2.0)
