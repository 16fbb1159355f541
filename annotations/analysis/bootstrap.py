"""A study's cluster bootstrap: its case ids indexed (a case's position is its code) and
the resample weights over them, drawn by :mod:`modeling.bootstrap`.

All the analyses of one study share one :class:`CaseBootstrap`, so their intervals come
from the same resamples and the result is reproducible from ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modeling.bootstrap import case_weights, grouped_resample_totals, resample_totals


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
