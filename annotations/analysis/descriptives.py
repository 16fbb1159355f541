"""Descriptive statistics of Likert ratings per arm x dimension, overall, per case
category and per task, with 95% cluster-bootstrap CIs (cases resampled).

The ratings are reduced once to a per-case table of level counts: for every case, arm,
dimension and score level, how many ratings gave that score. Means, SDs, medians and
distributions are functions of level counts, so a resample's statistics follow from
``weights @ counts`` (see :mod:`annotations.analysis.bootstrap`); the medians are exact
(the median of the resample's ratings, as ``numpy.median`` would give), because Likert
scores take few distinct values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from annotations.analysis._common import (
    arm_order,
    codes_for,
    is_empty,
    likert_levels,
    likert_specs,
    pair_list,
    require_columns,
    safe_div,
    sort_labels,
)
from annotations.analysis.bootstrap import CaseBootstrap, ensure_bootstrap
from modeling.bootstrap import group_totals, per_case_bincount, percentile_ci

SCOPES = ("overall", "category", "task")


def stats_from_counts(counts: np.ndarray, levels: np.ndarray) -> dict[str, np.ndarray]:
    """n, mean, sd (ddof=1) and median of the values ``levels`` repeated ``counts``
    times, along the last axis (vectorised over the leading axes). NaN where n is 0
    (and sd where n < 2). The median is that of the expanded sample (mean of the two
    middle values when n is even)."""
    counts = np.asarray(counts, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    n = counts.sum(axis=-1)
    mean = safe_div((counts * levels).sum(axis=-1), n)
    centred = levels - np.nan_to_num(mean)[..., None]
    sd = np.sqrt(safe_div((counts * centred**2).sum(axis=-1), n - 1))
    sd = np.where(n >= 2, sd, np.nan)
    return {"n": n, "mean": mean, "sd": sd, "median": median_from_counts(counts, levels)}


def median_from_counts(counts: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Median of ``levels`` weighted by integer ``counts`` along the last axis."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum(axis=-1)
    cum = np.cumsum(counts, axis=-1)
    # 0-based positions of the two middle order statistics.
    lower = np.floor((n - 1) / 2)
    upper = np.floor(n / 2)
    # Round before comparing: counts may carry float rounding from a product.
    cum = np.round(cum, 6)
    lo_idx = np.argmax(cum > lower[..., None], axis=-1)
    hi_idx = np.argmax(cum > upper[..., None], axis=-1)
    median = (levels[lo_idx] + levels[hi_idx]) / 2.0
    return np.where(n > 0, median, np.nan)


@dataclass
class LikertCounts:
    """Per-case level counts of the Likert ratings.

    ``table`` is ``(n_cases, n_columns)``; dimension ``d``'s block of columns starts at
    ``offsets[d]`` and is laid out arm-major: column ``offsets[d] + a * K_d + k`` counts
    arm ``a``'s ratings at level ``levels[d][k]``."""

    dimensions: list[str]
    arms: list
    levels: list[np.ndarray]
    offsets: list[int]
    table: np.ndarray
    case_category: np.ndarray  # (n_cases,) object, None where the case has no rating
    case_task: np.ndarray

    def block(self, totals: np.ndarray, d: int) -> np.ndarray:
        """Dimension d's counts from a ``(..., n_columns)`` array: ``(..., n_arms, K_d)``."""
        k = len(self.levels[d])
        part = totals[..., self.offsets[d]:self.offsets[d] + len(self.arms) * k]
        return part.reshape((*totals.shape[:-1], len(self.arms), k))


def likert_counts(ratings: pd.DataFrame, dimensions: Sequence[Mapping], arms: Sequence,
                  bootstrap: CaseBootstrap) -> LikertCounts:
    """Reduce the long ratings frame to per-case level counts (one pass, bincount).

    Rows of other dimensions, other arms, or with a missing value are left out."""
    specs = likert_specs(dimensions)
    keys = [d["key"] for d in specs]
    n_cases = bootstrap.n_cases
    case_category = np.full(n_cases, None, dtype=object)
    case_task = np.full(n_cases, None, dtype=object)
    if is_empty(ratings):
        levels = [likert_levels(s, np.array([])) for s in specs]
        offsets = list(np.cumsum([0] + [len(arms) * len(lv) for lv in levels])[:-1])
        width = sum(len(arms) * len(lv) for lv in levels)
        return LikertCounts(keys, list(arms), levels, [int(o) for o in offsets],
                            np.zeros((n_cases, width)), case_category, case_task)
    require_columns(ratings, ("case_id", "arm", "dimension", "value"), "ratings")
    values = pd.to_numeric(ratings["value"], errors="coerce").to_numpy(dtype=float)
    dim_codes = codes_for(ratings["dimension"], keys)
    arm_codes = codes_for(ratings["arm"], arms)
    keep = (dim_codes >= 0) & (arm_codes >= 0) & np.isfinite(values)
    case_codes = bootstrap.codes(ratings["case_id"].to_numpy()[keep])
    values, dim_codes, arm_codes = values[keep], dim_codes[keep], arm_codes[keep]

    levels: list[np.ndarray] = []
    offsets: list[int] = []
    columns = np.empty(len(values), dtype=np.int64)
    offset = 0
    for d, spec in enumerate(specs):
        rows = dim_codes == d
        lv = likert_levels(spec, values[rows])
        levels.append(lv)
        offsets.append(offset)
        columns[rows] = offset + arm_codes[rows] * len(lv) + np.searchsorted(lv, values[rows])
        offset += len(arms) * len(lv)
    table = per_case_bincount(case_codes, columns, n_cases, offset)

    # Case attributes (category, task): the first row seen for each case.
    _, first = np.unique(case_codes, return_index=True)
    rows = np.flatnonzero(keep)[first]
    if "category" in ratings.columns:
        case_category[case_codes[first]] = ratings["category"].to_numpy()[rows]
    if "task" in ratings.columns:
        case_task[case_codes[first]] = ratings["task"].to_numpy()[rows]
    return LikertCounts(keys, list(arms), levels, offsets, table, case_category, case_task)


def case_groups(attribute: np.ndarray) -> tuple[list, np.ndarray]:
    """Groups of cases by an attribute: (sorted labels, code per case; -1 for none)."""
    present = pd.Series(attribute)
    labels = sort_labels(pd.unique(present))
    codes = codes_for(present, labels) if labels else np.full(len(attribute), -1)
    return labels, np.asarray(codes)


def describe_ratings(ratings: pd.DataFrame, dimensions: Sequence[Mapping], *, arms: Sequence | None = None,
                     bootstrap: CaseBootstrap | None = None, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95, scopes: Sequence[str] = SCOPES) -> dict:
    """Per arm x Likert dimension, overall and per case category and task: n (ratings),
    n_cases, mean, median, sd, the distribution (counts per level), and percentile
    cluster-bootstrap CIs of the mean and the median; plus the pairwise differences of
    arm means (``arm_a - arm_b``) with paired cluster-bootstrap CIs (the same resampled
    cases for both arms).

    Returns ``{"records": [...], "differences": [...]}``; each record has ``scope``
    ("overall" | "category" | "task"), ``group`` (None for overall), ``dimension``,
    ``arm`` and the statistics. A subgroup resample that drew none of its cases is
    skipped in that subgroup's interval."""
    arms = arm_order(ratings, arms=arms)
    boot = ensure_bootstrap(bootstrap, [] if is_empty(ratings) else ratings["case_id"], n_boot, seed)
    lc = likert_counts(ratings, dimensions, arms, boot)
    records: list[dict] = []
    differences: list[dict] = []
    for scope in scopes:
        if scope == "overall":
            labels, group_codes = [None], np.zeros(boot.n_cases, dtype=np.int64)
        elif scope == "category":
            labels, group_codes = case_groups(lc.case_category)
        elif scope == "task":
            labels, group_codes = case_groups(lc.case_task)
        else:
            raise ValueError(f"unknown scope {scope!r}")
        if not labels:
            continue
        observed = group_totals(lc.table, group_codes, len(labels))  # (G, cols)
        has_case = group_totals(_case_presence(lc), group_codes, len(labels))  # (G, D*A)
        if boot.n_boot:
            resampled = boot.grouped_totals(lc.table, group_codes, len(labels))  # (B, G, cols)
        for d, key in enumerate(lc.dimensions):
            lv = lc.levels[d]
            obs = stats_from_counts(lc.block(observed, d), lv)  # (G, A)
            if boot.n_boot:
                bs = stats_from_counts(lc.block(resampled, d), lv)  # (B, G, A)
                mean_lo, mean_hi = percentile_ci(bs["mean"], level)
                med_lo, med_hi = percentile_ci(bs["median"], level)
                # resamples that drew no case of the group for the arm: left out of its interval, and counted
                dropped = (~np.isfinite(bs["mean"])).sum(axis=0)
            else:
                mean_lo = mean_hi = med_lo = med_hi = np.full(obs["mean"].shape, np.nan)
                dropped = np.zeros(obs["mean"].shape, dtype=int)
            counts = lc.block(observed, d)
            for g, label in enumerate(labels):
                for a, arm in enumerate(arms):
                    records.append({
                        "scope": scope, "group": label, "dimension": key, "arm": arm,
                        "n": int(obs["n"][g, a]), "n_cases": int(has_case[g, d * len(arms) + a]),
                        "mean": obs["mean"][g, a], "mean_ci": [mean_lo[g, a], mean_hi[g, a]],
                        "median": obs["median"][g, a], "median_ci": [med_lo[g, a], med_hi[g, a]],
                        "sd": obs["sd"][g, a], "n_boot_dropped": int(dropped[g, a]),
                        "levels": lv.tolist(), "counts": counts[g, a].astype(int).tolist(),
                    })
                for i, j in pair_list(arms):
                    diff = obs["mean"][g, i] - obs["mean"][g, j]
                    if boot.n_boot:
                        lo, hi = percentile_ci(bs["mean"][:, g, i] - bs["mean"][:, g, j], level)
                    else:
                        lo = hi = np.nan
                    differences.append({
                        "scope": scope, "group": label, "dimension": key, "arm_a": arms[i], "arm_b": arms[j],
                        "mean_difference": diff, "ci": [lo, hi],
                    })
    return {"records": records, "differences": differences, "ci_level": level}


def _case_presence(lc: LikertCounts) -> np.ndarray:
    """(n_cases, D*A): 1 where the case has a rating of that dimension and arm."""
    parts = [lc.block(lc.table, d).sum(axis=-1) > 0 for d in range(len(lc.dimensions))]
    if not parts:
        return np.zeros((lc.table.shape[0], 0))
    return np.concatenate(parts, axis=1).astype(np.float64)
