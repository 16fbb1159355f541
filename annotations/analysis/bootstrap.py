"""Cluster bootstrap over cases, vectorised.

A case is the cluster: every rating, judgment and ranking of a case goes in or out of a
resample together (responses to one case, and the raters of one case, are not
independent). A resample is a vector of case weights: how many times each case was
drawn (multinomial, n_cases draws with equal probabilities). Every statistic here is
a smooth function of per-case totals (sums, counts, coincidences, pairwise wins), so a
resample's totals are ``weights @ per_case_totals``, and all resamples at once are one
matrix product: no Python loop over resamples ever touches the raw frame.

All the analyses of one study share one :class:`CaseBootstrap`, so their intervals come
from the same resamples and the result is reproducible from ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Resample rows multiplied at a time: bounds the float64 temporaries of a matrix product.
_CHUNK = 256


def _weight_chunks(n_items: int, n_boot: int, seed: int):
    """Yield ``(start, stop, counts)``: the multinomial weights of resamples
    ``start:stop``, a few resamples at a time (keeps the int64 draw buffer ~8 MB)."""
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
    flat = per_item.reshape(per_item.shape[0], -1)
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
    flat = per_case.reshape(per_case.shape[0], -1)
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
    flat = per_case.reshape(per_case.shape[0], -1)
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
    flat = rows.reshape(rows.shape[0], -1)
    ok = codes >= 0
    out = np.empty((n_groups, flat.shape[1]), dtype=np.float64)
    for j in range(flat.shape[1]):
        out[:, j] = np.bincount(codes[ok], weights=flat[ok, j], minlength=n_groups)
    return out.reshape((n_groups, *rows.shape[1:]))


@dataclass
class CaseBootstrap:
    """The case index of a study and the resample weights over it.

    ``cases`` lists every case id once (position = case code); ``weights`` is
    ``(n_boot, n_cases)`` from :func:`case_weights`."""

    cases: pd.Index
    weights: np.ndarray
    seed: int = 0

    @classmethod
    def draw(cls, case_ids: Iterable, n_boot: int = 1000, seed: int = 0) -> CaseBootstrap:
        """Index the distinct ``case_ids`` (sorted when sortable) and draw the weights."""
        if not isinstance(case_ids, pd.Series | pd.Index | np.ndarray):
            case_ids = list(case_ids)
        unique = pd.Series(case_ids).dropna().unique()
        try:
            unique = np.sort(unique)
        except TypeError:
            pass
        cases = pd.Index(unique)
        return cls(cases=cases, weights=case_weights(len(cases), n_boot, seed), seed=seed)

    @property
    def n_boot(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_cases(self) -> int:
        return len(self.cases)

    def codes(self, case_ids) -> np.ndarray:
        """Case code of each id; raises if an id is not in the index."""
        ids = pd.Series(case_ids)
        if ids.isna().any():
            raise ValueError(f"{int(ids.isna().sum())} row(s) have no case id (NaN or None): every rating and "
                             "preference must name its case")
        codes = self.cases.get_indexer(ids.to_numpy())
        if (codes < 0).any():
            raise ValueError("case ids outside the bootstrap's case index")
        return codes

    def totals(self, per_case: np.ndarray) -> np.ndarray:
        """Resampled totals of a per-case array: ``(n_boot, ...)``."""
        return resample_totals(self.weights, per_case)

    def grouped_totals(self, per_case: np.ndarray, group_codes: np.ndarray, n_groups: int) -> np.ndarray:
        """Resampled totals within case groups: ``(n_boot, n_groups, ...)``."""
        return grouped_resample_totals(self.weights, per_case, group_codes, n_groups)


def ensure_bootstrap(bootstrap: CaseBootstrap | None, case_ids, n_boot: int, seed: int) -> CaseBootstrap:
    """``bootstrap`` if given, else a new one over ``case_ids``."""
    if bootstrap is not None:
        return bootstrap
    return CaseBootstrap.draw(case_ids, n_boot=n_boot, seed=seed)


def per_case_bincount(case_codes: np.ndarray, column_codes: np.ndarray, n_cases: int, n_columns: int,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """``(n_cases, n_columns)`` table of counts (or sums of ``weights``) of rows by
    (case, column); rows with a negative code are left out."""
    ok = (case_codes >= 0) & (column_codes >= 0)
    flat = case_codes[ok].astype(np.int64) * n_columns + column_codes[ok]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    return np.bincount(flat, weights=w, minlength=n_cases * n_columns).reshape(n_cases, n_columns).astype(np.float64)
