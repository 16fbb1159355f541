import krippendorff
import numpy as np
import pandas as pd
import pytest

from annotations.analysis.agreement import (
    alpha_by_dimension,
    alpha_from_coincidences,
    krippendorff_alpha,
    leave_one_out_deviation,
    rater_severity,
    unit_coincidences,
    value_counts_by_unit,
)
from annotations.analysis.bootstrap import CaseBootstrap
from bench.synthetic_study import synthetic_study
from modeling.bootstrap import case_weights


def _long(reliability):
    raters, units = np.nonzero(~np.isnan(reliability))
    return units, reliability[raters, units]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(6))
def test_alpha_matches_krippendorff_package_on_random_data_with_missing_values(level, seed):
    rng = np.random.default_rng(seed)
    n_raters, n_units, k = rng.integers(2, 7), rng.integers(5, 60), rng.integers(2, 7)
    # Some agreement: a unit's true value plus rater noise, then 30% missing.
    truth = rng.integers(1, k + 1, n_units)
    data = np.clip(truth + rng.integers(-1, 2, (n_raters, n_units)) * (rng.random((n_raters, n_units)) < 0.4),
                   1, k).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    domain = np.arange(1, k + 1, dtype=float)
    units, values = _long(data)
    if (np.bincount(units, minlength=n_units) >= 2).sum() == 0 or len(np.unique(values)) < 2:
        pytest.skip("degenerate draw")
    ref = krippendorff.alpha(reliability_data=data, value_domain=domain, level_of_measurement=level)
    got = krippendorff_alpha(units, values, level=level, domain=domain)
    assert got == pytest.approx(ref, abs=1e-9)
    # Default domain = observed values (the package's default too).
    ref_default = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(units, values, level=level) == pytest.approx(ref_default, abs=1e-9)


def test_alpha_known_values_from_the_literature():
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", example C.
    data = np.array([
        [np.nan, np.nan, np.nan, np.nan, np.nan, 3, 4, 1, 2, 1, 1, 3, 3, np.nan, 3],
        [1, np.nan, 2, 1, 3, 3, 4, 3, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
        [np.nan, np.nan, 2, 1, 3, 4, 4, np.nan, 2, 1, 1, 3, 3, np.nan, 4],
    ])
    units, values = _long(data)
    assert krippendorff_alpha(units, values, "nominal") == pytest.approx(0.691358, abs=1e-6)
    assert krippendorff_alpha(units, values, "interval") == pytest.approx(0.810845, abs=1e-6)
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
                     [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan]])
    units, values = _long(data)
    assert krippendorff_alpha(units, values, "ordinal") == pytest.approx(0.815, abs=5e-4)
    # Nominal with string values.
    labels = np.array(["under", "appropriate", "over"], dtype=object)
    s_units, s_values = _long(data)
    s_values = labels[(s_values.astype(int) - 1) % 3]
    ref = krippendorff.alpha(value_counts=value_counts_by_unit(
        s_units, pd.Index(labels).get_indexer(s_values), 12, 3), level_of_measurement="nominal")
    assert krippendorff_alpha(s_units, s_values, "nominal", domain=list(labels)) == pytest.approx(ref, abs=1e-12)


def test_batched_alpha_from_coincidences_equals_one_at_a_time():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, size=(40, 5)).astype(float)
    contrib = unit_coincidences(counts)
    w = rng.integers(0, 3, size=(7, 40)).astype(float)
    batched = alpha_from_coincidences(np.einsum("bu,ukl->bkl", w, contrib), "ordinal")
    for b in range(7):
        expanded = np.repeat(counts, w[b].astype(int), axis=0)
        assert batched[b] == pytest.approx(krippendorff.alpha(value_counts=expanded, level_of_measurement="ordinal"),
                                           abs=1e-9)


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n_cases=25, n_raters=6, raters_per_case=2.6, seed=8)


def _reliability(frame, dim):
    rows = frame[frame["dimension"] == dim]
    return rows.pivot_table(index="rater_id", columns=["case_id", "arm"], values="value", aggfunc="first")


def test_alpha_by_dimension_point_estimates_match_package(study):
    result = alpha_by_dimension(study["ratings"], study["judgments"], study["dimensions"])
    by_dim = {r["dimension"]: r for r in result}
    for dim in ["realism", "proactivity", "helpfulness", "safety"]:
        data = _reliability(study["ratings"], dim).to_numpy(dtype=float)
        ref = krippendorff.alpha(reliability_data=data, value_domain=[1, 2, 3, 4, 5], level_of_measurement="ordinal")
        assert by_dim[dim]["alpha"] == pytest.approx(ref, abs=1e-9) and by_dim[dim]["level"] == "ordinal"
    j = study["judgments"]
    data = j.pivot_table(index="rater_id", columns=["case_id", "arm"], values="value", aggfunc="first")
    codes = data.apply(lambda c: c.map({"under": 0, "appropriate": 1, "over": 2})).to_numpy(dtype=float)
    ref = krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal")
    assert by_dim["intervention"]["alpha"] == pytest.approx(ref, abs=1e-9)
    assert by_dim["intervention"]["level"] == "nominal"
    assert by_dim["realism"]["n_units"] == 75 and by_dim["realism"]["n_values"] == len(
        study["ratings"][study["ratings"]["dimension"] == "realism"])


def test_bootstrap_ci_equals_package_on_explicitly_resampled_cases(study):
    ratings = study["ratings"]
    boot = CaseBootstrap.draw(ratings["case_id"], n_boot=15, seed=4)
    (rec,) = alpha_by_dimension(ratings, None, [study["dimensions"][1]], bootstrap=boot, level=0.8)
    by_case = ratings[ratings["dimension"] == "proactivity"].set_index("case_id")
    alphas = []
    for b in range(boot.n_boot):
        parts = []
        for copy, case in enumerate(np.repeat(boot.cases.to_numpy(), boot.weights[b].astype(int))):
            # Each drawn copy of a case is a new set of units.
            parts.append(by_case.loc[[case]].assign(copy=copy))
        frame = pd.concat(parts)
        data = frame.pivot_table(index="rater_id", columns=["copy", "arm"], values="value", aggfunc="first")
        alphas.append(krippendorff.alpha(reliability_data=data.to_numpy(dtype=float),
                                         value_domain=[1, 2, 3, 4, 5], level_of_measurement="ordinal"))
    assert rec["ci"] == pytest.approx(list(np.quantile(alphas, [0.1, 0.9])), abs=1e-9)


def test_leave_one_out_deviation_and_severity_by_hand():
    units = np.array([0, 0, 0, 1, 1, 2])
    values = np.array([1.0, 3.0, 5.0, 2.0, 4.0, 5.0])
    np.testing.assert_allclose(leave_one_out_deviation(units, values), [-3, 0, 3, -2, 2, np.nan])
    ratings = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 3], "arm": "x", "rater_id": ["r1", "r2", "r3", "r1", "r2", "r1"],
                            "dimension": "q", "value": values})
    out = rater_severity(ratings, [{"key": "q", "scale": "likert", "min": 1, "max": 5}])
    got = {(r["rater"], r["dimension"]): r for r in out}
    assert got[("r1", "q")]["mean_deviation"] == -2.5 and got[("r1", "q")]["n"] == 2
    assert got[("r2", "q")]["mean_deviation"] == 1.0 and got[("r3", "q")]["n"] == 1
    assert got[("r3", "q")]["se"] is None
    assert got[("r1", "all")]["mean_deviation"] == -2.5


def test_severity_recovers_generating_rater_effects():
    s = synthetic_study(n_cases=400, n_raters=15, raters_per_case=3, rater_sd=0.5, seed=5)
    out = [r for r in rater_severity(s["ratings"], s["dimensions"]) if r["dimension"] == "all"]
    est = np.array([r["mean_deviation"] for r in sorted(out, key=lambda r: r["rater"])])
    truth = s["truth"]["rater_severity"]
    assert np.corrcoef(est, truth)[0, 1] > 0.95


def test_unit_bootstrap_ci_equals_package_on_explicitly_resampled_units(study):
    ratings = study["ratings"]
    rows = ratings[ratings["dimension"] == "safety"]
    boot = CaseBootstrap.draw(ratings["case_id"], n_boot=12, seed=6)
    (rec,) = alpha_by_dimension(ratings, None, [study["dimensions"][3]], bootstrap=boot, level=0.8, resample="units")
    # Units are numbered in order of first appearance of (case, arm).
    unit = rows.groupby(["case_id", "arm"], sort=False).ngroup().to_numpy()
    n_units = unit.max() + 1
    members = [np.flatnonzero(unit == u) for u in range(n_units)]
    weights = case_weights(n_units, 12, seed=6)
    alphas = []
    for b in range(12):
        drawn = np.repeat(np.arange(n_units), weights[b].astype(int))
        take = np.concatenate([members[u] for u in drawn])
        copy = np.repeat(np.arange(drawn.size), [members[u].size for u in drawn])
        frame = rows.iloc[take].assign(copy=copy)
        data = frame.pivot_table(index="rater_id", columns="copy", values="value", aggfunc="first")
        alphas.append(krippendorff.alpha(reliability_data=data.to_numpy(dtype=float), value_domain=[1, 2, 3, 4, 5],
                                         level_of_measurement="ordinal"))
    assert rec["ci"] == pytest.approx(list(np.quantile(alphas, [0.1, 0.9])), abs=1e-9)
    with pytest.raises(ValueError):
        alpha_by_dimension(ratings, None, [study["dimensions"][3]], bootstrap=boot, resample="raters")
