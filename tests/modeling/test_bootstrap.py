"""The one cluster bootstrap over cases (modeling/bootstrap.py), behind both the study
analysis and the arm comparisons: its draws and the comparison's intervals are pinned to
what each gave on a fixed seed before the two shared this module."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.bootstrap import (
    case_weights,
    group_totals,
    grouped_resample_totals,
    pattern_weights,
    percentile_ci,
    resample_totals,
    streamed_totals,
    sum_rows_by,
)
from modeling.comparison import PatternCounts, compare_arms
from modeling.task_types import DEFAULT_TASKS


def test_case_weights_and_streamed_totals_are_the_draws_they_were():
    assert case_weights(7, 5, seed=11).astype(int).tolist() == [
        [2, 0, 0, 1, 3, 1, 0], [2, 1, 1, 2, 0, 0, 1], [1, 0, 0, 1, 1, 1, 3], [0, 2, 1, 2, 1, 0, 1],
        [1, 1, 1, 1, 1, 2, 0]]
    per_item = (np.arange(6.0) ** 2).reshape(6, 1)
    assert streamed_totals(per_item, 4, seed=2).ravel().tolist() == [47.0, 49.0, 61.0, 21.0]


def _patterns() -> PatternCounts:
    patterns = PatternCounts(["behavior_sft", "general_sft", "baseline"])
    rng = np.random.default_rng(0)
    for i in range(40):
        task = ("omission_detection", "ddx_reasoning")[i % 2]
        labels = DEFAULT_TASKS[task].label_space
        patterns.add_case(task, labels[i % len(labels)],
                          {arm: labels[int(rng.integers(len(labels)))] for arm in patterns.arms})
    return patterns


def test_the_comparisons_intervals_are_the_ones_it_gave_before():
    result = compare_arms(_patterns(), DEFAULT_TASKS, n_boot=300, seed=7)
    assert result["n_cases"] == 40 and result["resamples_missing_a_task"] == 0
    expected = {
        "baseline": ([0.11882575757575761, 0.27106643356643345],
                     {"proactive": [0.17312593703148427, 0.38894230769230753], "reactive": [0.0, 0.2123106060606059]}),
        "behavior_sft": ([0.2023466637529138, 0.3617187499999999],
                         {"proactive": [0.1790106951871658, 0.4], "reactive": [0.1628899286987522, 0.38203030303030305]}),
        "general_sft": ([0.16815933551081605, 0.31794803808620214],
                        {"proactive": [0.17391304347826086, 0.3999999999999998],
                         "reactive": [0.07852564102564108, 0.30208333333333315]}),
    }
    for arm, (ci, categories) in expected.items():
        assert result["arms"][arm]["ci"] == pytest.approx(ci, abs=1e-12)
        for category, category_ci in categories.items():
            assert result["arms"][arm]["categories"][category]["ci"] == pytest.approx(category_ci, abs=1e-12)
    first = result["differences"][:3]
    assert [(d["scope"], d["ci"], d["p_not_above_zero"]) for d in first] == [
        ("overall", pytest.approx([-0.05744382455779514, 0.1387380567801763], abs=1e-12),
         pytest.approx(0.17666666666666667)),
        ("reactive", pytest.approx([-0.08622399431073632, 0.2524849170437405], abs=1e-12),
         pytest.approx(0.11333333333333333)),
        ("proactive", pytest.approx([-0.12629020979020977, 0.14312499999999995], abs=1e-12),
         pytest.approx(0.5966666666666667)),
    ]


def test_pattern_weights_draw_every_case_once_per_resample_in_all():
    weights = pattern_weights(np.array([5, 1, 14]), 200, seed=1)
    assert weights.shape == (200, 3) and np.all(weights.sum(axis=1) == 20)
    np.testing.assert_array_equal(weights, pattern_weights(np.array([5, 1, 14]), 200, seed=1))
    assert weights.mean(axis=0) == pytest.approx([5, 1, 14], rel=0.15)


def test_percentile_ci_leaves_out_resamples_without_a_value():
    lo, hi = percentile_ci(np.array([np.nan, 1.0, 2.0, 3.0, np.nan]), 0.5)
    assert (float(lo), float(hi)) == (1.5, 2.5)
    lo, hi = percentile_ci(np.array([np.nan, np.nan]))
    assert np.isnan(lo) and np.isnan(hi)


@pytest.mark.parametrize("tail", [(), (3,), (2, 2)])
def test_nothing_to_resample_gives_zero_totals_of_the_right_shape(tail):
    # A study with no ratings yet has no rows under any statistic.
    none = np.zeros((0, *tail))
    weights = case_weights(0, 5, seed=1)
    assert streamed_totals(none, 5).shape == (5, *tail)
    assert resample_totals(weights, none).shape == (5, *tail)
    assert not sum_rows_by(np.zeros(0, dtype=np.int64), none, 2).any()
    assert group_totals(none, np.zeros(0, dtype=np.int64), 2).shape == (2, *tail)
    assert grouped_resample_totals(weights, none, np.zeros(0, dtype=np.int64), 2).shape == (5, 2, *tail)
