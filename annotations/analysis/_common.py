"""Small helpers shared by the analysis modules: input checks, arm ordering, Wilson
intervals and conversion of results to plain JSON values (the bootstrap's percentile
intervals are :func:`modeling.bootstrap.percentile_ci`)."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

LIKERT = "likert"
CATEGORICAL = "categorical"

RATING_COLUMNS = ("case_id", "rater_id", "arm", "slot", "dimension", "value")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise a ``ValueError`` naming the missing columns of ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks column(s) {', '.join(missing)}")


def is_empty(frame: pd.DataFrame | None) -> bool:
    return frame is None or len(frame) == 0


# Case categories in the paper's order (reactive -> proactive); other labels follow.
CATEGORY_ORDER = ("reactive", "balanced", "proactive")


def sort_labels(labels: Iterable) -> list:
    """Labels in a stable, natural order: known categories first in CATEGORY_ORDER,
    then the rest sorted (numbers numerically; mixed types by their string form).
    Missing values are dropped."""
    labels = [v for v in labels if not _is_missing(v)]
    known = [c for c in CATEGORY_ORDER if c in labels]
    rest = [v for v in labels if v not in CATEGORY_ORDER]
    try:
        rest = sorted(set(rest))
    except TypeError:
        rest = sorted(set(rest), key=str)
    return known + rest


def arm_order(*frames: pd.DataFrame | None, arms: Sequence | None = None) -> list:
    """The arms to report, in order: ``arms`` when given, else every arm seen in the
    frames, sorted (see :func:`sort_labels`)."""
    if arms is not None:
        return list(arms)
    seen: set = set()
    for frame in frames:
        if not is_empty(frame) and "arm" in frame.columns:
            seen.update(pd.unique(frame["arm"]))
    return sort_labels(seen)


def codes_for(values: pd.Series | np.ndarray, labels: Sequence | pd.Index) -> np.ndarray:
    """Integer code of each value in ``labels`` (-1 where the value is not a label)."""
    index = labels if isinstance(labels, pd.Index) else pd.Index(list(labels))
    # Factorize first (fast for any dtype, Arrow strings included), then look up only
    # the distinct values.
    codes, uniques = pd.factorize(values if isinstance(values, pd.Series | pd.Index) else np.asarray(values))
    lookup = np.append(index.get_indexer(uniques), -1)  # code -1 (missing) -> -1
    return lookup[codes].astype(np.int64)


def combined_codes(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, int]:
    """Dense integer code of each row's combination of ``columns`` (missing values get a
    code of their own), and the number of distinct combinations."""
    combined = np.zeros(len(frame), dtype=np.int64)
    n_combined = 1
    for column in columns:
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=False)
        # Re-densify after each column so the mixed-radix code never overflows.
        combined, labels = pd.factorize(combined * len(uniques) + codes)
        n_combined = len(labels)
    return combined.astype(np.int64), n_combined


def likert_specs(dimensions: Sequence[Mapping]) -> list[Mapping]:
    return [d for d in dimensions if d.get("scale") == LIKERT]


def categorical_specs(dimensions: Sequence[Mapping]) -> list[Mapping]:
    return [d for d in dimensions if d.get("scale") == CATEGORICAL]


def likert_levels(spec: Mapping, observed: np.ndarray) -> np.ndarray:
    """The score levels of a Likert dimension: the integers min..max of its spec, plus any
    other value observed (so an off-scale value is counted, never silently dropped)."""
    levels = set(np.unique(observed[np.isfinite(observed)]).tolist())
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and hi is not None:
        levels.update(float(v) for v in range(int(lo), int(hi) + 1))
    return np.array(sorted(levels), dtype=float)


def choice_values(spec: Mapping, observed: Iterable) -> list:
    """The values of a categorical dimension: its spec's ``choices`` (``[[value, label],
    ...]`` or plain values) in order, then any other observed value, sorted."""
    values: list = []
    for choice in spec.get("choices") or []:
        value = choice[0] if isinstance(choice, list | tuple) else choice
        if value not in values:
            values.append(value)
    extra = sorted({v for v in observed if v not in values and not _is_missing(v)}, key=str)
    return values + extra


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value))


def wilson_ci(count, nobs, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (statsmodels ``proportion_confint(method="wilson")``),
    element-wise; NaN where ``nobs`` is 0."""
    count = np.asarray(count, dtype=float)
    nobs = np.asarray(nobs, dtype=float)
    count, nobs = np.broadcast_arrays(count, nobs)
    lo = np.full(count.shape, np.nan)
    hi = np.full(count.shape, np.nan)
    ok = nobs > 0
    if ok.any():
        lo_ok, hi_ok = proportion_confint(count[ok], nobs[ok], alpha=1.0 - level, method="wilson")
        lo[ok] = np.clip(lo_ok, 0.0, 1.0)  # statsmodels may return 5e-17 for 0 successes
        hi[ok] = np.clip(hi_ok, 0.0, 1.0)
    return lo, hi


def safe_div(num, den) -> np.ndarray:
    """``num / den`` with NaN where ``den`` is 0 (no warnings)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def pair_list(arms: Sequence) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, in a stable order."""
    return [(i, j) for i in range(len(arms)) for j in range(i + 1, len(arms))]


def to_jsonable(obj):
    """A deep copy of ``obj`` made of plain ``dict``/``list``/``str``/``int``/``float``/
    ``bool``/``None``: numpy scalars and arrays become Python values, NaN and infinities
    become ``None``, tuples become lists, mapping keys become strings."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.item()) if obj.ndim == 0 else [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, pd.Series | pd.Index):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, pd.Timestamp | _dt.datetime | _dt.date):
        return obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)
