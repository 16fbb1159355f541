"""Rank tests across arms for complete and incomplete blocks: Friedman's, Durbin's and
Skillings and Mack's, checked against published worked examples and against each other
where they must agree."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annotations.analysis.paired import paired_tests
from annotations.analysis.rank_tests import balanced_incomplete, durbin, rank_test, skillings_mack
from annotations.services.blocks import incomplete_blocks

LIKERT = [{"key": "q", "scale": "likert", "min": 1, "max": 5}]


def _matrix(blocks, groups, values, n_blocks, n_groups):
    matrix = np.full((n_blocks, n_groups), np.nan)
    for b, g, v in zip(blocks, groups, values):
        matrix[b, g] = v
    return matrix


def test_durbin_on_conovers_ice_cream_tasting():
    """Conover (1999), Practical Nonparametric Statistics, 3rd ed., p. 391: seven judges
    each rank three of seven vanilla ice creams (a balanced incomplete block design).
    Published result, as R's agricolae::durbin.test documents it for this example: rank
    sums 8, 9, 4, 3, 5, 6, 7; Durbin's statistic 12 on 6 degrees of freedom, p = 0.0619688."""
    judge = [j for j in range(7) for _ in range(3)]
    variety = [1, 2, 4, 2, 3, 5, 3, 4, 6, 4, 5, 7, 1, 5, 6, 2, 6, 7, 1, 3, 7]
    rank = [2, 3, 1, 3, 1, 2, 2, 1, 3, 1, 2, 3, 3, 1, 2, 3, 1, 2, 3, 1, 2]
    matrix = _matrix(judge, [v - 1 for v in variety], rank, 7, 7)
    assert list(np.nansum(matrix, axis=0)) == [8, 9, 4, 3, 5, 6, 7]
    result = rank_test(matrix)
    assert result["test"] == "durbin" and (result["block_size"], result["replication"]) == (3, 3)
    assert result["statistic"] == pytest.approx(12.0, abs=1e-12) and result["df"] == 6
    assert result["p_value"] == pytest.approx(0.0619688, abs=5e-8)


def test_skillings_mack_on_bradys_data_with_a_missing_value():
    """Brady (1969), as in Hollander and Wolfe (1999), Nonparametric Statistical Methods,
    2nd ed.: eight blocks, three treatments, block 4 missing treatment A. Published result
    of R's PMCMRplus::skillingsMackTest on this example (its documentation's example):
    statistic 13.28095 on 2 degrees of freedom, p = 0.001306405. No block holds ties."""
    r = [3, 1, 5, 2, 0, 0, 0, 0]
    a = [5, 3, 4, np.nan, 2, 2, 3, 2]
    b = [15, 18, 21, 6, 17, 10, 8, 13]
    result = rank_test(np.column_stack([r, a, b]))
    assert result["test"] == "skillings_mack" and result["df"] == 2 and result["n"] == 8
    assert result["statistic"] == pytest.approx(13.28095, abs=5e-6)
    assert result["p_value"] == pytest.approx(0.001306405, abs=5e-10)


def test_skillings_mack_is_durbins_test_on_a_balanced_incomplete_design_without_ties():
    rng = np.random.default_rng(3)
    blocks = [b for _ in range(3) for b in incomplete_blocks(5, 3, 10, random.Random(1))]
    matrix = np.full((len(blocks), 5), np.nan)
    for i, block in enumerate(blocks):
        matrix[i, list(block)] = rng.permutation(3) + np.array(block) * 0.4
    assert balanced_incomplete(np.isfinite(matrix))
    d, sm = durbin(matrix), skillings_mack(matrix)
    assert sm["statistic"] == pytest.approx(d["statistic"], rel=1e-10) and sm["df"] == d["df"] == 4


def test_skillings_mack_is_friedmans_test_with_its_tie_correction_when_every_case_has_every_arm():
    rng = np.random.default_rng(5)
    matrix = rng.integers(1, 6, size=(40, 4)).astype(float)  # Likert scores: many ties
    friedman = stats.friedmanchisquare(*matrix.T)
    sm = skillings_mack(matrix)
    assert sm["statistic"] == pytest.approx(friedman.statistic, rel=1e-10) and sm["df"] == 3
    assert rank_test(matrix)["test"] == "friedman"


def test_the_covariance_used_with_ties_is_that_of_ranks_exchanged_within_each_case():
    """With ties, each case's ranks are a random permutation of the ranks it holds under
    the null: the statistic's covariance must be that permutation covariance, so the
    statistic computed over many such permutations averages its degrees of freedom."""
    rng = np.random.default_rng(11)
    pattern = rng.random((30, 4)) < 0.75
    pattern[:, :2] = True  # every case has at least two values
    values = np.where(pattern, rng.integers(1, 4, size=(30, 4)).astype(float), np.nan)
    df = skillings_mack(values)["df"]
    draws = []
    for _ in range(1500):
        shuffled = values.copy()
        for row in shuffled:
            present = np.flatnonzero(np.isfinite(row))
            row[present] = rng.permutation(row[present])
        draws.append(skillings_mack(shuffled)["statistic"])
    # E[A' V^- A] = rank(V) exactly when V is the covariance of A.
    assert np.mean(draws) == pytest.approx(df, rel=0.07)


@pytest.mark.parametrize(("n_arms", "k"), [(5, 3), (4, 2), (6, 3)])
def test_under_no_difference_the_tests_on_planned_blocks_reject_at_their_level(n_arms, k):
    rng = np.random.default_rng(n_arms * 10 + k)
    blocks = incomplete_blocks(n_arms, k, 60, random.Random(k))
    rejected = {"durbin": [], "skillings_mack": []}
    for _ in range(600):
        matrix = np.full((len(blocks), n_arms), np.nan)
        for i, block in enumerate(blocks):
            # a case's mean of two raters' Likert scores: ties are common
            matrix[i, list(block)] = rng.integers(1, 6, size=(2, k)).mean(axis=0)
        result = rank_test(matrix)
        rejected[result["test"]].append(result["p_value"] < 0.05)
        # one response left unrated: the pattern is no longer balanced
        matrix[0, blocks[0][0]] = np.nan
        result = rank_test(matrix)
        rejected[result["test"]].append(result["p_value"] < 0.05)
    for test, outcomes in rejected.items():
        assert outcomes and 0.02 < np.mean(outcomes) < 0.08, (test, np.mean(outcomes))


def test_the_test_follows_the_pattern_of_the_cases():
    complete = np.arange(12, dtype=float).reshape(4, 3) % 5
    assert rank_test(complete)["test"] == "friedman"
    bibd = np.array([[1, 2, np.nan], [np.nan, 1, 3], [2, np.nan, 1]])
    assert rank_test(np.vstack([bibd, bibd]))["test"] == "durbin"
    uneven = np.vstack([bibd, bibd, [[1, 2, np.nan]]])
    assert rank_test(uneven)["test"] == "skillings_mack"
    with pytest.raises(ValueError):
        durbin(uneven)
    # Fewer than three arms with values: no statistic, whichever test.
    assert rank_test(np.array([[1, 2, np.nan], [2, 1, np.nan]]))["statistic"] is None


def _block_ratings(n_arms, k, n_cases, means, seed):
    """A study that showed each case k of ``n_arms`` arms (planned blocks), two raters
    per case scoring each shown response around its arm's mean."""
    rng = np.random.default_rng(seed)
    blocks = incomplete_blocks(n_arms, k, n_cases, random.Random(seed))
    rows = []
    for case, block in enumerate(blocks):
        for rater in range(2):
            for slot, arm in enumerate(block):
                score = int(np.clip(np.rint(rng.normal(means[arm], 0.9)), 1, 5))
                rows.append({"assignment_id": case * 2 + rater, "case_id": case, "rater_id": rater, "arm": f"arm{arm}",
                             "slot": slot, "dimension": "q", "value": float(score), "category": "balanced"})
    return pd.DataFrame(rows), blocks


def test_paired_tests_on_screens_of_three_of_five_arms():
    ratings, blocks = _block_ratings(5, 3, 50, [2.0, 2.5, 3.0, 3.5, 4.0], seed=2)
    arms = [f"arm{a}" for a in range(5)]
    (record,) = paired_tests(ratings, LIKERT, arms=arms, by=None)
    assert record["friedman"]["test"] == "durbin" and record["friedman"]["n"] == 50
    assert record["friedman"]["p_value"] < 1e-6
    # Each pair's Wilcoxon test uses the cases that showed both arms.
    together = {(a, b): sum(a in block and b in block for block in blocks) for a in range(5) for b in range(a + 1, 5)}
    for pair in record["pairwise"]:
        a, b = int(pair["arm_a"][3:]), int(pair["arm_b"][3:])
        assert pair["n"] == together[(a, b)] == 15
        assert pair["p_value"] is not None and pair["mean_difference"] < 0
    # One response left unscored ("cannot judge"): Skillings and Mack's test, every case kept.
    drop = ratings.index[(ratings["case_id"] == 0) & (ratings["arm"] == f"arm{blocks[0][0]}")]
    ratings.loc[drop, "value"] = np.nan
    (record,) = paired_tests(ratings, LIKERT, arms=arms, by=None)
    assert record["friedman"]["test"] == "skillings_mack" and record["friedman"]["n"] == 50
