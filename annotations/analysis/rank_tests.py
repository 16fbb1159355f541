"""Rank tests across arms with the case as the block: do the arms differ on a dimension?

Which test applies depends on which arms each case has values for:

- every case has every arm: Friedman's test (``scipy.stats.friedmanchisquare``);
- every case has k of the t arms, each arm is in the same number of cases and each pair
  of arms shares the same number of cases (a balanced incomplete block design, as a study
  that shows k responses per screen plans them): Durbin's test, in Conover's form with ties
  (Conover 1999, *Practical Nonparametric Statistics*, 3rd ed., section 5.9):
  ``T1 = (t - 1) * sum_j (R_j - r (k + 1) / 2)^2 / (A - C)``, ``A`` the sum of the squared
  within-case ranks and ``C = b k (k + 1)^2 / 4``, against chi-square with t - 1 degrees of
  freedom;
- any other pattern (a case missing a response, blocks dealt unevenly): Skillings and
  Mack's test (Technometrics 23:171-177, 1981): within each case with k_i >= 2 values the
  centred ranks weighted by ``sqrt(12 / (k_i + 1))`` are summed per arm (``A``), and
  ``SM = A' V^- A`` against chi-square with rank(V) degrees of freedom, ``V`` their
  covariance when the ranks within each case are exchangeable. ``V`` is computed with the
  ties each case holds (each case's own rank variance), which is Skillings and Mack's
  without ties and Friedman's tie correction when every case has every arm.

Cases with fewer than two values compare nothing and are left out; arms with no value at
all are left out of the test and named (``arms_left_out``). Fewer than three arms or two
cases: no statistic (the pairwise Wilcoxon tests are the comparison then).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

FRIEDMAN = "friedman"
DURBIN = "durbin"
SKILLINGS_MACK = "skillings_mack"


def _arms_with_data(matrix: np.ndarray, arms: Sequence | None) -> tuple[np.ndarray, list]:
    """The columns with any value, and the names of those without."""
    names = list(arms) if arms is not None else list(range(matrix.shape[1]))
    has_data = np.isfinite(matrix).any(axis=0) if matrix.size else np.zeros(matrix.shape[1], dtype=bool)
    return matrix[:, has_data], [names[i] for i in np.flatnonzero(~has_data)]


def _record(test: str, statistic, df, n: int, k: int, left_out: list, **extra) -> dict:
    p_value = None if statistic is None else float(stats.chi2.sf(statistic, df))
    return {"test": test, "statistic": None if statistic is None else float(statistic), "p_value": p_value,
            "df": df if statistic is not None else None, "n": n, "k": k, "arms_left_out": left_out, **extra}


def friedman(matrix: np.ndarray, arms: Sequence | None = None) -> dict:
    """Friedman's test over the rows of ``matrix`` (cases x arms) with no missing arm.

    An arm with no value at all would leave no complete row, so it is left out and the
    test runs over the arms that have data; ``arms_left_out`` names them (with ``arms``
    given, by name; else by column). ``scipy.stats.friedmanchisquare``; None statistics
    with fewer than 3 arms or 2 complete cases."""
    matrix, left_out = _arms_with_data(np.asarray(matrix, dtype=float), arms)
    k = int(matrix.shape[1])
    complete = matrix[np.isfinite(matrix).all(axis=1)]
    n = int(complete.shape[0])
    if k < 3 or n < 2:
        return _record(FRIEDMAN, None, None, n, k, left_out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.friedmanchisquare(*complete.T)
    return _record(FRIEDMAN, res.statistic, k - 1, n, k, left_out)


def _within_case_ranks(matrix: np.ndarray) -> np.ndarray:
    """Ranks within each row (average ranks for ties; NaN where there is no value), over
    the rows with at least two values."""
    observed = np.isfinite(matrix)
    rows = matrix[observed.sum(axis=1) >= 2]
    return stats.rankdata(rows, axis=1, nan_policy="omit") if rows.size else rows


def _case_ranks(matrix, arms: Sequence | None) -> tuple[np.ndarray, list]:
    """The ranks within each case of the arms with data, and the arms left out."""
    matrix, left_out = _arms_with_data(np.asarray(matrix, dtype=float), arms)
    return _within_case_ranks(matrix), left_out


def balanced_incomplete(observed: np.ndarray) -> bool:
    """Whether the pattern of values (cases x arms, True where a value is) is a balanced
    incomplete block design: every case has the same k < t arms' values, every arm is in
    the same number of cases, every pair of arms shares the same number of cases."""
    if observed.shape[0] == 0:
        return False
    sizes = observed.sum(axis=1)
    if sizes.min() != sizes.max() or not 2 <= sizes[0] < observed.shape[1]:
        return False
    replication = observed.sum(axis=0)
    together = observed.T.astype(np.int64) @ observed.astype(np.int64)
    off_diagonal = together[~np.eye(observed.shape[1], dtype=bool)]
    return replication.min() == replication.max() and off_diagonal.min() == off_diagonal.max()


def durbin(matrix: np.ndarray, arms: Sequence | None = None) -> dict:
    """Durbin's test (Conover's T1, corrected for ties) over the rows of ``matrix`` (cases
    x arms, NaN where a case lacks an arm) with at least two values, which must form a
    balanced incomplete block design (ValueError otherwise): see the module's docstring.
    ``block_size`` is k, ``replication`` r."""
    ranks, left_out = _case_ranks(matrix, arms)
    observed = np.isfinite(ranks)
    b, t = ranks.shape
    if t < 3 or b < 2:
        return _record(DURBIN, None, None, b, t, left_out)
    if not balanced_incomplete(observed):
        raise ValueError("Durbin's test needs a balanced incomplete block design")
    k, r = int(observed[0].sum()), int(observed[:, 0].sum())
    rank_sums = np.nansum(ranks, axis=0)
    spread = np.nansum(ranks ** 2) - b * k * (k + 1) ** 2 / 4  # A - C
    statistic = None if spread <= 0 else (t - 1) * np.sum((rank_sums - r * (k + 1) / 2) ** 2) / spread
    return _record(DURBIN, statistic, t - 1, b, t, left_out, block_size=k, replication=r)


def skillings_mack(matrix: np.ndarray, arms: Sequence | None = None) -> dict:
    """Skillings and Mack's test over the rows of ``matrix`` (cases x arms, NaN where a
    case lacks an arm) with at least two values, any pattern: see the module's docstring."""
    ranks, left_out = _case_ranks(matrix, arms)
    observed = np.isfinite(ranks)
    b, t = ranks.shape
    if t < 3 or b < 2:
        return _record(SKILLINGS_MACK, None, None, b, t, left_out)
    sizes = observed.sum(axis=1)
    centred = np.where(observed, ranks - ((sizes + 1) / 2)[:, None], 0.0)
    weight = np.sqrt(12.0 / (sizes + 1))
    adjusted = (weight[:, None] * centred).sum(axis=0)
    # Within a case the ranks are a random permutation of the ranks it holds: each has the
    # case's rank variance s_i (divisor k_i - 1) times (1 - 1/k_i), each pair -s_i / k_i.
    variance = (centred ** 2).sum(axis=1) / (sizes - 1)
    scale = weight ** 2 * variance
    mask = observed.astype(float)
    covariance = np.diag(scale @ mask) - (mask * (scale / sizes)[:, None]).T @ mask
    eigenvalues = np.linalg.eigvalsh(covariance)
    df = int((eigenvalues > 1e-9 * max(1.0, eigenvalues.max())).sum())
    if df == 0:
        return _record(SKILLINGS_MACK, None, None, b, t, left_out)
    statistic = float(adjusted @ np.linalg.pinv(covariance, hermitian=True) @ adjusted)
    return _record(SKILLINGS_MACK, statistic, df, b, t, left_out)


def rank_test(matrix: np.ndarray, arms: Sequence | None = None) -> dict:
    """The rank test across arms that the pattern of ``matrix`` (cases x arms, NaN where a
    case lacks an arm; rows without any value are ignored) calls for: Friedman's when
    every case has every arm with data, Durbin's for a balanced incomplete block design,
    Skillings and Mack's otherwise. The record names it (``test``)."""
    matrix = np.asarray(matrix, dtype=float)
    present, _ = _arms_with_data(matrix, arms)
    observed = np.isfinite(present)
    observed = observed[observed.any(axis=1)]
    if observed.all():
        return friedman(matrix, arms)
    if balanced_incomplete(observed[observed.sum(axis=1) >= 2]) and observed.sum(axis=1).min() >= 2:
        return durbin(matrix, arms)
    return skillings_mack(matrix, arms)
