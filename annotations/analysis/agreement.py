"""Inter-rater agreement and rater severity.

Krippendorff's alpha: a unit is one response (a case x arm) and its values are the
scores of the raters who rated it. Alpha depends on the data only through the
coincidence matrix ``o`` (K x K over the value domain), which is a sum over units of
``(n_u n_u^T - diag(n_u)) / (m_u - 1)`` (``n_u`` the unit's value counts, ``m_u`` its
number of values, units with m_u < 2 contribute nothing)::

    alpha = 1 - (n - 1) * sum(o * delta) / sum(outer(n_c, n_c) * delta)

with ``n_c`` the row sums of ``o``, ``n`` their total and ``delta`` the squared
distance of the level of measurement (for ordinal data ``delta`` depends on ``n_c``).
So the per-unit contributions are computed once, summed per case (the bootstrap's
cluster; or kept per unit for a unit bootstrap) and every resample's coincidence
matrix is ``weights @ contributions``.
The point estimate matches the ``krippendorff`` package.

Severity: a rater's mean deviation from the other raters of the same response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from annotations.analysis._common import (
    CATEGORICAL,
    LIKERT,
    choice_values,
    codes_for,
    combined_codes,
    is_empty,
    likert_levels,
    require_columns,
    safe_div,
)
from annotations.analysis.bootstrap import CaseBootstrap
from modeling.bootstrap import percentile_ci, streamed_totals, sum_rows_by


def value_counts_by_unit(unit_codes: np.ndarray, value_codes: np.ndarray, n_units: int, n_values: int) -> np.ndarray:
    """``(n_units, n_values)`` counts of each value in each unit (negative codes left out)."""
    ok = (unit_codes >= 0) & (value_codes >= 0)
    flat = unit_codes[ok].astype(np.int64) * n_values + value_codes[ok]
    return np.bincount(flat, minlength=n_units * n_values).reshape(n_units, n_values).astype(np.float64)


def unit_coincidences(counts: np.ndarray) -> np.ndarray:
    """Per-unit contributions to the coincidence matrix: ``(n_units, K, K)``, zero for
    units with fewer than two values."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1)
    contrib = counts[:, :, None] * counts[:, None, :]
    k = counts.shape[1]
    contrib[:, np.arange(k), np.arange(k)] -= counts
    scale = safe_div(1.0, m - 1.0)
    scale[m < 2] = 0.0
    return contrib * scale[:, None, None]


def distances(level: str, domain: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    """Squared distances ``delta`` (K x K), vectorised over the leading axes of the
    marginals ``n_c`` ``(..., K)`` (only the ordinal metric uses them)."""
    n_c = np.asarray(n_c, dtype=np.float64)
    k = n_c.shape[-1]
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(k), (*n_c.shape[:-1], k, k))
    if level == "ordinal":
        cum = np.cumsum(n_c, axis=-1)
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        # sum of n_g for g in [lo, hi]
        between = cum[..., hi] - cum[..., lo] + n_c[..., lo]
        return (between - (n_c[..., :, None] + n_c[..., None, :]) / 2.0) ** 2
    values = np.asarray(domain, dtype=np.float64)
    if level == "interval":
        d = (values[:, None] - values[None, :]) ** 2
    elif level == "ratio":
        total = values[:, None] + values[None, :]
        d = safe_div(values[:, None] - values[None, :], total) ** 2
        d[total == 0] = 0.0
    else:
        raise ValueError(f"unknown level of measurement {level!r}")
    return np.broadcast_to(d, (*n_c.shape[:-1], k, k))


def alpha_from_coincidences(o: np.ndarray, level: str, domain: np.ndarray | None = None) -> np.ndarray:
    """Krippendorff's alpha from coincidence matrices ``(..., K, K)``; NaN where there is
    no pairable value or no expected disagreement."""
    o = np.asarray(o, dtype=np.float64)
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    delta = distances(level, domain if domain is not None else np.arange(o.shape[-1]), n_c)
    observed = (o * delta).sum(axis=(-2, -1))
    expected = (n_c[..., :, None] * n_c[..., None, :] * delta).sum(axis=(-2, -1))
    alpha = 1.0 - (n - 1.0) * safe_div(observed, expected)
    return np.where((n > 1) & (expected > 0), alpha, np.nan)


def krippendorff_alpha(units, values, level: str = "ordinal", domain: Sequence | None = None) -> float:
    """Krippendorff's alpha from long data: one (unit, value) pair per rating; missing
    values (None/NaN) are left out. ``domain``: the ordered possible values (default:
    the sorted observed values). Same result as ``krippendorff.alpha``."""
    values = pd.Series(values)
    ok = values.notna().to_numpy()
    values = values[ok]
    domain = list(domain) if domain is not None else sorted(pd.unique(values))
    value_codes = codes_for(values, domain)
    if (value_codes < 0).any():
        raise ValueError("values outside the domain")
    unit_codes, unit_labels = pd.factorize(pd.Series(units)[ok])
    counts = value_counts_by_unit(unit_codes, value_codes, len(unit_labels), len(domain))
    o = unit_coincidences(counts).sum(axis=0)
    return float(alpha_from_coincidences(o, level, np.asarray(domain) if level in ("interval", "ratio") else None))


def _dimension_data(frame: pd.DataFrame, spec: Mapping) -> tuple[pd.DataFrame, list, str]:
    rows = frame[frame["dimension"] == spec["key"]]
    if spec.get("scale") == LIKERT:
        values = pd.to_numeric(rows["value"], errors="coerce")
        rows = rows.assign(value=values)[values.notna()]
        domain = likert_levels(spec, rows["value"].to_numpy(dtype=float)).tolist()
        level = spec.get("alpha_level", "ordinal")
    else:
        rows = rows[rows["value"].notna()]
        domain = choice_values(spec, pd.unique(rows["value"]))
        level = spec.get("alpha_level", "nominal")
    return rows, domain, level


def alpha_by_dimension(ratings: pd.DataFrame | None, judgments: pd.DataFrame | None,
                       dimensions: Sequence[Mapping], *, bootstrap: CaseBootstrap | None = None,
                       level: float = 0.95, unit_columns: Sequence[str] = ("case_id", "arm"),
                       resample: str = "cases") -> list[dict]:
    """Krippendorff's alpha per rubric dimension: ordinal for Likert dimensions (from
    ``ratings``), nominal for categorical ones (from ``judgments``); a spec may set
    ``alpha_level`` to override. With a bootstrap, a percentile CI: ``resample="cases"``
    (default) draws the bootstrap's cases, each with all its units (the responses of one
    case are not independent; the same resamples as the rest of the analysis);
    ``resample="units"`` draws units independently (``bootstrap.n_boot`` resamples from
    ``bootstrap.seed``), the textbook unit bootstrap, narrower when units of a case are
    alike.

    Records: dimension, level, alpha, ci, n_units (with 2+ values), n_pairable (values in
    such units), n_values."""
    out = []
    for spec in dimensions:
        frame = ratings if spec.get("scale") == LIKERT else judgments if spec.get("scale") == CATEGORICAL else None
        if is_empty(frame):
            continue
        require_columns(frame, (*unit_columns, "dimension", "value"), "ratings")
        rows, domain, lvl = _dimension_data(frame, spec)
        record = {"dimension": spec["key"], "level": lvl, "alpha": None, "ci": [None, None],
                  "n_units": 0, "n_pairable": 0, "n_values": int(len(rows))}
        if len(rows) == 0 or len(domain) < 2:
            out.append(record)
            continue
        unit_codes, n_units = combined_codes(rows, unit_columns)
        counts = value_counts_by_unit(unit_codes, codes_for(rows["value"], domain), n_units, len(domain))
        contrib = unit_coincidences(counts)
        m = counts.sum(axis=1)
        dom = np.asarray(domain, dtype=float) if lvl in ("interval", "ratio") else None
        record.update({"alpha": float(alpha_from_coincidences(contrib.sum(axis=0), lvl, dom)),
                       "n_units": int((m >= 2).sum()), "n_pairable": int(m[m >= 2].sum())})
        if bootstrap is not None and bootstrap.n_boot:
            k = len(domain)
            if resample == "cases":
                # Each unit's case: sum the unit contributions per case, then resample.
                unit_case = np.zeros(n_units, dtype=np.int64)
                unit_case[unit_codes] = bootstrap.codes(rows["case_id"].to_numpy())
                per_case = sum_rows_by(unit_case, contrib.reshape(n_units, k * k), bootstrap.n_cases)
                boot_o = bootstrap.totals(per_case).reshape(-1, k, k)
            elif resample == "units":
                boot_o = streamed_totals(contrib.reshape(n_units, k * k), bootstrap.n_boot, bootstrap.seed)
                boot_o = boot_o.reshape(-1, k, k)
            else:
                raise ValueError(f"resample must be 'cases' or 'units', not {resample!r}")
            lo, hi = percentile_ci(alpha_from_coincidences(boot_o, lvl, dom), level)
            record["ci"] = [float(lo), float(hi)]
        out.append(record)
    return out


def leave_one_out_deviation(unit_codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each rating, its value minus the mean of the other ratings of the same unit
    (NaN when it is the unit's only rating)."""
    n_units = int(unit_codes.max()) + 1 if unit_codes.size else 0
    sums = np.bincount(unit_codes, weights=values, minlength=n_units)
    counts = np.bincount(unit_codes, minlength=n_units).astype(float)
    others = counts[unit_codes] - 1.0
    return values - safe_div(sums[unit_codes] - values, others)


def rater_severity(ratings: pd.DataFrame, dimensions: Sequence[Mapping], *,
                   unit_columns: Sequence[str] = ("case_id", "arm")) -> list[dict]:
    """Per rater and Likert dimension (and ``"all"`` Likert dimensions pooled): the mean
    deviation of the rater's score from the mean of the other raters' scores of the same
    response, with n, sd and standard error. Negative: harsher than colleagues."""
    if is_empty(ratings):
        return []
    require_columns(ratings, (*unit_columns, "rater_id", "dimension", "value"), "ratings")
    keys = [d["key"] for d in dimensions if d.get("scale") == LIKERT]
    rows = ratings[ratings["dimension"].isin(keys)]
    values = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values)
    rows, values = rows[ok], values[ok]
    if len(rows) == 0:
        return []
    unit_codes, _ = combined_codes(rows, [*unit_columns, "dimension"])
    dev = leave_one_out_deviation(unit_codes, values)
    frame = pd.DataFrame({"rater": rows["rater_id"].to_numpy(), "dimension": rows["dimension"].to_numpy(),
                          "dev": dev}).dropna()
    stats = {"n": "count", "mean_deviation": "mean", "sd": "std"}
    parts = [frame.groupby(["rater", "dimension"], sort=False)["dev"].agg(**stats).reset_index(),
             frame.groupby("rater", sort=False)["dev"].agg(**stats).reset_index().assign(dimension="all")]
    table = pd.concat(parts, ignore_index=True)
    dim_rank = {k: i for i, k in enumerate([*keys, "all"])}
    table = table.assign(_r=table["rater"].map(str), _d=table["dimension"].map(dim_rank)).sort_values(["_r", "_d"])
    return [{"rater": r.rater, "dimension": r.dimension, "n": int(r.n), "mean_deviation": float(r.mean_deviation),
             "sd": float(r.sd), "se": float(r.sd / np.sqrt(r.n)) if r.n > 1 else None}
            for r in table.itertuples(index=False)]
