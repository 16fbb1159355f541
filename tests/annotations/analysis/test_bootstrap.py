import numpy as np
import pytest

from annotations.analysis.bootstrap import CaseBootstrap
from modeling.bootstrap import (
    case_weights,
    group_totals,
    grouped_resample_totals,
    per_case_bincount,
    resample_totals,
    streamed_totals,
)


def test_case_weights_are_multinomial_counts_and_seeded():
    w = case_weights(37, 400, seed=3)
    assert w.shape == (400, 37) and w.dtype == np.float32
    assert np.all(w.sum(axis=1) == 37)
    assert np.all(w == np.round(w)) and w.min() >= 0
    np.testing.assert_array_equal(w, case_weights(37, 400, seed=3))
    assert not np.array_equal(w, case_weights(37, 400, seed=4))
    # Multinomial(n, 1/n): each weight has mean 1 and variance (1 - 1/n).
    assert w.mean() == pytest.approx(1.0)
    assert w.var() == pytest.approx(1 - 1 / 37, rel=0.05)
    assert case_weights(0, 5).shape == (5, 0)
    assert case_weights(5, 0).shape == (0, 5)


def test_case_weights_chunking_does_not_change_the_draws_distribution():
    # Many cases: drawn a few resamples at a time; every row still sums to n.
    w = case_weights(300_000, 30, seed=0)
    assert np.all(w.sum(axis=1) == 300_000)


def test_resample_totals_equal_explicit_resampling():
    rng = np.random.default_rng(0)
    per_case = rng.normal(size=(50, 3, 2))
    boot = CaseBootstrap.draw(range(50), n_boot=600, seed=1)  # > one chunk of rows
    totals = boot.totals(per_case)
    assert totals.shape == (600, 3, 2)
    for b in (0, 299, 599):
        # Resample b, as a list of drawn cases.
        drawn = np.repeat(np.arange(50), boot.weights[b].astype(int))
        np.testing.assert_allclose(totals[b], per_case[drawn].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(resample_totals(boot.weights, per_case), totals)


def test_grouped_totals_equal_masked_products():
    rng = np.random.default_rng(2)
    per_case = rng.integers(0, 5, size=(40, 4)).astype(float)
    groups = rng.integers(-1, 3, size=40)  # -1: in no group
    w = case_weights(40, 300, seed=5)
    got = grouped_resample_totals(w, per_case, groups, 3)
    for g in range(3):
        expected = w.astype(float) @ (per_case * (groups == g)[:, None])
        np.testing.assert_allclose(got[:, g], expected)
    obs = group_totals(per_case, groups, 3)
    for g in range(3):
        np.testing.assert_allclose(obs[g], per_case[groups == g].sum(axis=0))


def test_case_index_codes_and_unknown_ids():
    boot = CaseBootstrap.draw(["c", "a", "b", "a"], n_boot=10, seed=0)
    assert list(boot.cases) == ["a", "b", "c"] and boot.n_cases == 3 and boot.n_boot == 10
    assert boot.codes(["c", "a"]).tolist() == [2, 0]
    with pytest.raises(ValueError):
        boot.codes(["z"])


def test_per_case_bincount_counts_and_sums():
    cases = np.array([0, 0, 1, 2, -1])
    cols = np.array([1, 1, 0, 1, 0])
    counts = per_case_bincount(cases, cols, 3, 2)
    np.testing.assert_array_equal(counts, [[0, 2], [1, 0], [0, 1]])
    sums = per_case_bincount(cases, cols, 3, 2, weights=np.array([1.5, 2.0, 3.0, 4.0, 9.0]))
    np.testing.assert_array_equal(sums, [[0, 3.5], [3.0, 0], [0, 4.0]])


def test_streamed_totals_equal_materialised_weights():
    rng = np.random.default_rng(4)
    per_item = rng.normal(size=(30_000, 3))  # several chunks of resamples
    got = streamed_totals(per_item, 70, seed=9)
    np.testing.assert_allclose(got, case_weights(30_000, 70, seed=9).astype(float) @ per_item, rtol=1e-10)


def test_the_study_analysis_gives_the_intervals_it_gave_on_a_fixed_seed():
    """Pinned to what the analysis gave before its draws moved to modeling/bootstrap.py."""
    from annotations.analysis import summarize_study
    from bench.synthetic_study import synthetic_study

    s = synthetic_study(n_cases=40, n_raters=8, raters_per_case=2.5, seed=21)
    result = summarize_study(s["ratings"], s["judgments"], s["preferences"], s["dimensions"], n_boot=200, seed=5)
    first = result["descriptives"]["records"][0]
    assert (first["arm"], first["dimension"], first["scope"], first["mean"]) == ("Baseline", "realism", "overall", 3.09)
    assert first["mean_ci"] == pytest.approx([2.8615881458966568, 3.3115474445869206], abs=1e-12)
    bt = result["preferences"]["bradley_terry"]
    np.testing.assert_allclose(bt["log_strength_ci"], [[-0.7830090208671318, -0.2605771525003227],
                                                       [0.39451180820260157, 0.8821533673541344],
                                                       [-0.3780256776467299, 0.12658026834349656]], rtol=1e-6, atol=0)
    # The draws are pinned exactly; each resample's fit to the optimiser's tolerance.
    assert bt["position_log_odds_ci"] == pytest.approx([0.13056779307554991, 0.6977640123715394], rel=1e-6)
