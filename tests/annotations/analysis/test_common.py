import json
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from annotations.analysis._common import (
    arm_order,
    choice_values,
    codes_for,
    combined_codes,
    likert_levels,
    sort_labels,
    to_jsonable,
    wilson_ci,
)
from modeling.bootstrap import percentile_ci


def test_to_jsonable_plain_values_and_nan_to_none():
    obj = {
        "a": np.float64(1.5), "b": np.int32(3), "c": np.nan, "d": [np.inf, -np.inf, 2.0],
        "e": np.array([[1, 2], [3, 4]]), "f": (np.bool_(True), None), 7: np.array(np.nan),
        "g": pd.Series([1.0, np.nan]), "h": np.array(2.5),
    }
    out = to_jsonable(obj)
    assert out == {"a": 1.5, "b": 3, "c": None, "d": [None, None, 2.0], "e": [[1, 2], [3, 4]],
                   "f": [True, None], "7": None, "g": [1.0, None], "h": 2.5}
    json.dumps(out, allow_nan=False)
    assert type(out["b"]) is int and type(out["a"]) is float


def test_wilson_matches_statsmodels_and_known_value():
    lo, hi = wilson_ci([5, 0, 10, 3], [10, 10, 10, 0])
    ref_lo, ref_hi = proportion_confint([5, 0, 10], [10, 10, 10], alpha=0.05, method="wilson")
    np.testing.assert_allclose(lo[:3], ref_lo, rtol=0, atol=1e-15)
    np.testing.assert_allclose(hi[:3], ref_hi, rtol=0, atol=1e-15)
    # Known: 5/10 -> (0.2366, 0.7634) (Wilson 1927; e.g. Newcombe 1998 table I).
    assert lo[0] == pytest.approx(0.2366, abs=1e-4) and hi[0] == pytest.approx(0.7634, abs=1e-4)
    assert math.isnan(lo[3]) and math.isnan(hi[3])


def test_percentile_ci_matches_numpy_and_skips_nan_replicates():
    rng = np.random.default_rng(1)
    boot = rng.normal(size=(500, 3))
    lo, hi = percentile_ci(boot, 0.9)
    np.testing.assert_allclose(lo, np.quantile(boot, 0.05, axis=0))
    np.testing.assert_allclose(hi, np.quantile(boot, 0.95, axis=0))
    boot[:10, 1] = np.nan
    boot[:, 2] = np.nan
    lo, hi = percentile_ci(boot, 0.9)
    assert lo[1] == pytest.approx(np.quantile(boot[10:, 1], 0.05))
    assert math.isnan(lo[2]) and math.isnan(hi[2])
    assert np.all(np.isfinite(lo[:2]))


def test_codes_for_handles_missing_unknown_and_arrow_strings():
    values = pd.Series(["b", None, "x", "a"], dtype="string[pyarrow]")
    assert codes_for(values, ["a", "b"]).tolist() == [1, -1, -1, 0]
    assert codes_for(np.array([3, 1, 2]), [1, 2]).tolist() == [-1, 0, 1]


def test_combined_codes_dense_per_combination():
    frame = pd.DataFrame({"x": [1, 1, 2, 2, 1], "y": ["a", "b", "a", "a", "a"]})
    codes, n = combined_codes(frame, ["x", "y"])
    assert n == 3
    assert codes[0] == codes[4] and codes[2] == codes[3]
    assert len({codes[0], codes[1], codes[2]}) == 3


def test_levels_and_choices_from_specs():
    lv = likert_levels({"min": 1, "max": 5}, np.array([2.0, np.nan, 6.0]))
    assert lv.tolist() == [1, 2, 3, 4, 5, 6]
    spec = {"choices": [["under", "Under"], ["appropriate", "OK"], ["over", "Over"]]}
    assert choice_values(spec, ["over", "weird", None]) == ["under", "appropriate", "over", "weird"]


def test_sort_labels_categories_first_numbers_numerically():
    assert sort_labels(["proactive", "zeta", "reactive", "balanced", None]) == [
        "reactive", "balanced", "proactive", "zeta"]
    assert sort_labels([10, 2, 1]) == [1, 2, 10]
    assert sort_labels([2, "a", 1]) == [1, 2, "a"]
    assert arm_order(pd.DataFrame({"arm": [12, 3, 3]}), None) == [3, 12]
    assert arm_order(None, arms=["z", "a"]) == ["z", "a"]
