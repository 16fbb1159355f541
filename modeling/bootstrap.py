"""The cluster bootstrap over cases, vectorised: the one bootstrap of the project, behind
the study analysis (``annotations.analysis``, whose ``CaseBootstrap`` indexes a study's
case ids over these weights) and the arm comparisons (:mod:`modeling.comparison`).

A case is the cluster: everything measured on a case (every arm's response, every
rating, judgment and ranking of it) goes in or out of a resample together. A resample is
a vector of case weights: how many times each case was drawn (multinomial, n_cases
draws with equal probabilities). Every statistic resampled this way is a smooth function
of per-case totals, so a resample's totals are ``weights @ per_case_totals``, and all
resamples at once are one matrix product: no Python loop over resamples touches the raw
data. Where a statistic depends on the cases only through how many share each pattern
(:func:`pattern_weights`), the draw is made over the patterns: the same distribution,
whatever the number of cases.

Intervals are percentiles of the resampled statistic (:func:`percentile_ci`).
"""

from __future__ import annotations

import math

import numpy as np

# Resample rows multiplied at a time: bounds the float64 temporaries of a matrix product.
_CHUNK = 256


def as_rows(array: np.ndarray) -> np.ndarray:
    """``array`` seen as a matrix of ``array.shape[0]`` rows, whatever its trailing shape,
    none rows included (``reshape(n, -1)`` cannot infer a width from zero rows)."""
    return array.reshape(array.shape[0], math.prod(array.shape[1:]))


def _weight_chunks(n_items: int, n_boot: int, seed: int):
    """Yield ``(start, stop, counts)``: the multinomial weights of resamples
    ``start:stop``, a few resamples at a time (at most 2**20 int64 draws at once)."""
    rng = np.random.default_rng(seed)
    rows = max(1, (1 << 20) // max(n_items, 1))
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        draws = rng.integers(0, n_items, size=(stop - start, n_items))
        draws += (np.arange(stop - start) * n_items)[:, None]
        counts = np.bincount(draws.ravel(), minlength=(stop - start) * n_items)
        yield start, stop, counts.reshape(stop - start, n_items)


def case_weights(n_cases: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """Multinomial case weights, shape ``(n_boot, n_cases)``, float32 (integer counts,
    exact up to 2**24). Row b says how often each case is drawn in resample b; each row
    sums to ``n_cases``. Drawn as ``n_cases`` uniform case indices per resample and
    counted (the multinomial with equal probabilities), reproducible from ``seed``."""
    weights = np.zeros((n_boot, n_cases), dtype=np.float32)
    if n_boot == 0 or n_cases == 0:
        return weights
    for start, stop, counts in _weight_chunks(n_cases, n_boot, seed):
        weights[start:stop] = counts
    return weights


def streamed_totals(per_item: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    """``case_weights(n_items, n_boot, seed) @ per_item`` without holding the weights:
    for resampling many items (e.g. single units rather than cases)."""
    per_item = np.asarray(per_item, dtype=np.float64)
    flat = as_rows(per_item)
    out = np.zeros((n_boot, flat.shape[1]))
    if flat.shape[0]:
        for start, stop, counts in _weight_chunks(flat.shape[0], n_boot, seed):
            out[start:stop] = counts.astype(np.float64) @ flat
    return out.reshape((n_boot, *per_item.shape[1:]))


def resample_totals(weights: np.ndarray, per_case: np.ndarray) -> np.ndarray:
    """``weights @ per_case`` in float64, computed a few resamples at a time.

    ``per_case`` has shape ``(n_cases, ...)``; the result ``(n_boot, ...)``."""
    per_case = np.asarray(per_case, dtype=np.float64)
    tail = per_case.shape[1:]
    flat = as_rows(per_case)
    out = np.empty((weights.shape[0], flat.shape[1]), dtype=np.float64)
    for start in range(0, weights.shape[0], _CHUNK):
        stop = min(weights.shape[0], start + _CHUNK)
        np.matmul(weights[start:stop].astype(np.float64), flat, out=out[start:stop])
    return out.reshape((weights.shape[0], *tail))


def grouped_resample_totals(weights: np.ndarray, per_case: np.ndarray, group_codes: np.ndarray,
                            n_groups: int) -> np.ndarray:
    """Resample totals within each group of cases (e.g. per task category).

    ``group_codes[c]`` is case c's group (-1: in no group). Returns ``(n_boot, n_groups,
    ...)``. The cases are sorted by group once, so each group is one contiguous block of
    columns of the weights and the total work is that of a single product."""
    per_case = np.asarray(per_case, dtype=np.float64)
    tail = per_case.shape[1:]
    flat = as_rows(per_case)
    group_codes = np.asarray(group_codes)
    order = np.argsort(group_codes, kind="stable")
    bounds = np.searchsorted(group_codes[order], np.arange(n_groups + 1))
    out = np.zeros((weights.shape[0], n_groups, flat.shape[1]), dtype=np.float64)
    for start in range(0, weights.shape[0], _CHUNK):
        stop = min(weights.shape[0], start + _CHUNK)
        block = weights[start:stop][:, order].astype(np.float64)
        for g in range(n_groups):
            lo, hi = bounds[g], bounds[g + 1]
            if hi > lo:
                out[start:stop, g] = block[:, lo:hi] @ flat[order[lo:hi]]
    return out.reshape((weights.shape[0], n_groups, *tail))


def group_totals(per_case: np.ndarray, group_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Observed (not resampled) totals per group: ``(n_groups, ...)``."""
    return sum_rows_by(group_codes, per_case, n_groups)


def sum_rows_by(codes: np.ndarray, rows: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``rows`` (``(n, ...)``) by their group code (negative: left out):
    ``(n_groups, ...)``. One ``bincount`` per column (much faster than ``np.add.at``)."""
    rows = np.asarray(rows, dtype=np.float64)
    codes = np.asarray(codes)
    flat = as_rows(rows)
    ok = codes >= 0
    out = np.empty((n_groups, flat.shape[1]), dtype=np.float64)
    for j in range(flat.shape[1]):
        out[:, j] = np.bincount(codes[ok], weights=flat[ok, j], minlength=n_groups)
    return out.reshape((n_groups, *rows.shape[1:]))


def pattern_weights(pattern_counts: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    """Resample weights over patterns of cases, shape ``(n_boot, n_patterns)``: how many
    of its cases each pattern contributes to a resample of all ``pattern_counts.sum()``
    cases. Drawing every case with replacement and counting the draws by pattern is one
    multinomial draw over the patterns (probabilities in proportion to their counts):
    exact, and its cost does not grow with the number of cases."""
    counts = np.asarray(pattern_counts, dtype=float)
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, counts / n, size=n_boot).astype(float)


def per_case_bincount(case_codes: np.ndarray, column_codes: np.ndarray, n_cases: int, n_columns: int,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """``(n_cases, n_columns)`` table of counts (or sums of ``weights``) of rows by
    (case, column); rows with a negative code are left out."""
    ok = (case_codes >= 0) & (column_codes >= 0)
    flat = case_codes[ok].astype(np.int64) * n_columns + column_codes[ok]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    return np.bincount(flat, weights=w, minlength=n_cases * n_columns).reshape(n_cases, n_columns).astype(np.float64)


def percentile_ci(boot: np.ndarray, level: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap replicates along ``axis``, ignoring NaN
    replicates (a resample in which a subgroup drew no case); NaN where all are NaN."""
    boot = np.asarray(boot, dtype=float)
    alpha = (1.0 - level) / 2.0
    if boot.shape[axis] == 0:
        shape = boot.shape[:axis] + boot.shape[axis + 1:]
        return np.full(shape, np.nan), np.full(shape, np.nan)
    moved = np.moveaxis(boot, axis, 0)
    shape = moved.shape[1:]
    flat = as_rows(moved)
    finite = np.isfinite(flat)
    lo = np.full(flat.shape[1], np.nan)
    hi = np.full(flat.shape[1], np.nan)
    if finite.all():
        lo, hi = np.quantile(flat, [alpha, 1.0 - alpha], axis=0)
    else:
        usable = finite.any(axis=0)
        if usable.any():
            values = np.where(finite, flat, np.nan)[:, usable]
            lo[usable], hi[usable] = np.nanquantile(values, [alpha, 1.0 - alpha], axis=0)
    return lo.reshape(shape), hi.reshape(shape)
