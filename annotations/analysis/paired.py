"""Paired tests across arms, with the case as the unit of analysis.

Every arm answered the same cases, so the comparison is paired: each case contributes
one value per arm shown with it, the mean of its raters' scores for that arm's response.
Per dimension: a rank test across the arms (:mod:`.rank_tests`: Friedman's when every
case has every arm, Durbin's when the cases showed balanced incomplete blocks of them,
Skillings and Mack's otherwise), then pairwise Wilcoxon signed-rank tests
(``zero_method="pratt"``) over the cases with both arms, with Holm's correction over the
pairs of that dimension, each with its n, the median and mean of the paired differences,
and the matched-pairs rank-biserial correlation.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from annotations.analysis._common import (
    arm_order,
    codes_for,
    is_empty,
    likert_specs,
    pair_list,
    require_columns,
    safe_div,
    sort_labels,
)
from annotations.analysis.rank_tests import friedman, rank_test

__all__ = ["case_arm_means", "friedman", "holm", "paired_tests", "rank_biserial", "rank_test", "wilcoxon_pair"]


def case_arm_means(ratings: pd.DataFrame, dimension: str, arms: Sequence,
                   case_index: pd.Index | None = None) -> tuple[pd.Index, np.ndarray]:
    """Mean score per case and arm for one dimension: ``(cases, matrix (n_cases,
    n_arms))`` with NaN where a case has no rating for an arm."""
    rows = ratings[ratings["dimension"] == dimension]
    values = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)
    arm_codes = codes_for(rows["arm"], arms)
    ok = np.isfinite(values) & (arm_codes >= 0)
    if case_index is None:
        case_index = pd.Index(pd.unique(rows["case_id"].to_numpy()[ok]))
    case_codes = case_index.get_indexer(rows["case_id"].to_numpy())
    ok &= case_codes >= 0
    return case_index, _case_arm_matrix(case_codes[ok], arm_codes[ok], values[ok], len(case_index), len(arms))


def _case_arm_matrix(case_codes: np.ndarray, arm_codes: np.ndarray, values: np.ndarray, n_cases: int,
                     n_arms: int) -> np.ndarray:
    flat = case_codes.astype(np.int64) * n_arms + arm_codes
    size = n_cases * n_arms
    sums = np.bincount(flat, weights=values, minlength=size)
    counts = np.bincount(flat, minlength=size)
    return safe_div(sums, counts).reshape(n_cases, n_arms)


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby's simple difference formula):
    ``(T+ - T-) / (T+ + T-)``, where T+ and T- are the sums of the ranks of ``|d|`` over
    the non-zero differences with positive and negative sign (average ranks for ties).
    +1: every non-zero difference is positive. NaN when all differences are zero."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    if d.size == 0:
        return float("nan")
    ranks = stats.rankdata(np.abs(d))
    t_plus = ranks[d > 0].sum()
    t_minus = ranks[d < 0].sum()
    return float((t_plus - t_minus) / (t_plus + t_minus))


def wilcoxon_pair(a: np.ndarray, b: np.ndarray) -> dict:
    """Wilcoxon signed-rank test of ``a - b`` over the cases with both values
    (``zero_method="pratt"``, two-sided, scipy's default method), with n, the number of
    zero differences, median and mean difference, and the rank-biserial correlation."""
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    out = {"n": int(d.size), "n_zero": int((d == 0).sum()),
           "median_difference": float(np.median(d)) if d.size else None,
           "mean_difference": float(d.mean()) if d.size else None,
           "rank_biserial": rank_biserial(d), "statistic": None, "p_value": None}
    if d.size and (d != 0).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (RuntimeWarning, UserWarning))
            res = stats.wilcoxon(d, zero_method="pratt")
        out["statistic"] = float(res.statistic)
        out["p_value"] = float(res.pvalue)
    return out


def holm(p_values: Sequence[float | None], alpha: float = 0.05) -> tuple[list, list]:
    """Holm-adjusted p-values and rejections at ``alpha`` over the p-values that are not
    None (None stays None): ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p(j))`` over the
    sorted p-values. Same results as statsmodels ``multipletests(method="holm")``
    (tested), without its ``gc.collect()`` call, a full collection for every family
    while the study's large frames are alive."""
    idx = [i for i, p in enumerate(p_values) if p is not None and np.isfinite(p)]
    adjusted: list = [None] * len(p_values)
    reject: list = [None] * len(p_values)
    if idx:
        p = np.array([p_values[i] for i in idx], dtype=float)
        order = np.argsort(p, kind="mergesort")
        m = p.size
        adj_sorted = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(m, 0, -1)))
        adj = np.empty(m)
        adj[order] = adj_sorted
        # Step-down rejection: reject the first k sorted hypotheses with p(j) <= alpha / (m - j + 1).
        passes = p[order] <= alpha / np.arange(m, 0, -1)
        n_reject = m if passes.all() else int(np.argmin(passes))
        rej = np.zeros(m, dtype=bool)
        rej[order[:n_reject]] = True
        for k, i in enumerate(idx):
            adjusted[i] = float(adj[k])
            reject[i] = bool(rej[k])
    return adjusted, reject


def paired_tests(ratings: pd.DataFrame, dimensions: Sequence[Mapping], *, arms: Sequence | None = None,
                 by: str | None = "category", alpha: float = 0.05) -> list[dict]:
    """A rank test across arms and pairwise Wilcoxon tests per Likert dimension, overall
    and (when ``by`` names a case attribute column such as "category") per group.

    One record per (scope, group, dimension): ``friedman`` {test, statistic, p_value,
    df, n, k, arms_left_out}, the rank test across arms (:func:`.rank_tests.rank_test`;
    ``test`` names it: "friedman", "durbin" or "skillings_mack"; the key keeps the name it
    had when Friedman's was the only one, which stored analyses and API clients read),
    and ``pairwise``: a list of {arm_a, arm_b, n, n_zero, median_difference,
    mean_difference, statistic, p_value, p_holm, reject_holm, rank_biserial}, where
    differences are ``arm_a - arm_b`` of the per-case means. Holm's family is the pairs
    of one record."""
    if is_empty(ratings):
        return []
    require_columns(ratings, ("case_id", "arm", "dimension", "value"), "ratings")
    arms = arm_order(ratings, arms=arms)
    specs = likert_specs(dimensions)
    # Code every row once; each (scope, dimension) is then a mask over arrays.
    values = pd.to_numeric(ratings["value"], errors="coerce").to_numpy(dtype=float)
    dim_codes = codes_for(ratings["dimension"], [d["key"] for d in specs])
    arm_codes = codes_for(ratings["arm"], arms)
    case_codes, case_labels = pd.factorize(ratings["case_id"])
    ok = np.isfinite(values) & (arm_codes >= 0) & (case_codes >= 0)
    scopes: list[tuple[str, object, np.ndarray]] = [("overall", None, ok)]
    if by and by in ratings.columns:
        group_codes, group_labels = pd.factorize(ratings[by])
        for label in sort_labels(group_labels):
            scopes.append((by, label, ok & (group_codes == group_labels.get_loc(label))))
    out = []
    for scope, label, mask in scopes:
        for d, spec in enumerate(specs):
            rows = mask & (dim_codes == d)
            matrix = _case_arm_matrix(case_codes[rows], arm_codes[rows], values[rows], len(case_labels), len(arms))
            matrix = matrix[np.isfinite(matrix).any(axis=1)]
            pairs = []
            for i, j in pair_list(arms):
                pairs.append({"arm_a": arms[i], "arm_b": arms[j], **wilcoxon_pair(matrix[:, i], matrix[:, j])})
            adjusted, reject = holm([p["p_value"] for p in pairs], alpha=alpha)
            for p, adj, rej in zip(pairs, adjusted, reject):
                p["p_holm"] = adj
                p["reject_holm"] = rej
            out.append({"scope": scope, "group": label, "dimension": spec["key"],
                        "friedman": rank_test(matrix, arms), "pairwise": pairs})
    return out
