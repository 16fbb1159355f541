"""How far an LLM judge can stand in for clinicians: judge scores per arm, their
densities (the paper's Fig. 2) and judge-clinician concordance per dimension, bundled
for the judge page with the judge's position-swap consistency in pairwise comparisons
(:mod:`.judge_consistency`). Pure functions over pandas frames; no Django import.

Frames (long format):

- ``judge``: case_id, arm, dimension, value (one judge score per response and dimension;
  a ``response_id`` column may name the response).
- ``ratings``: case_id, arm, rater_id, dimension, value (clinicians' Likert ratings, as
  :func:`annotations.selectors.analysis.rating_frames` returns them).
- ``comparisons``: the judge's pairwise preferences (:mod:`.judge_consistency`).

Concordance is computed per *unit*, a response (``unit_columns``, default
``("case_id", "arm")``), between the judge's score and the clinicians' ratings of it:

- Spearman's rho between the judge score and the mean clinician rating (scipy's
  ``spearmanr`` at the point estimate).
- Krippendorff's alpha with the judge treated as one more rater, next to the
  clinicians' alpha alone: ordinal, with the judge's (continuous, probability-weighted)
  score rounded to the nearest scale level; and interval, with the judge's score as is.
- The mean difference judge - clinicians (the judge's severity).

Every interval is a percentile cluster bootstrap over cases (the analysis package's
:class:`~annotations.analysis.bootstrap.CaseBootstrap`): a resample draws cases, each
with all its responses, and every statistic of a resample follows from case weights.
Spearman's rho under case weights is the rho of the expanded sample (each unit
repeated as often as its case was drawn), computed with weighted mid-ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from annotations.analysis._common import (
    arm_order,
    codes_for,
    combined_codes,
    is_empty,
    likert_levels,
    require_columns,
    safe_div,
)
from annotations.analysis.agreement import alpha_from_coincidences, unit_coincidences, value_counts_by_unit
from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.judge_consistency import pairwise_consistency
from modeling.bootstrap import percentile_ci, sum_rows_by

JUDGE_RATER = "__judge__"


# -- weighted Spearman ---------------------------------------------------------------------

def weighted_midranks(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-ranks of ``x`` in the sample that repeats ``x[i]`` ``weights[..., i]`` times
    (ties share the mean of their ranks), for each row of ``weights`` ``(..., n)``."""
    x = np.asarray(x, dtype=float)
    weights = np.asarray(weights, dtype=float)
    order = np.argsort(x, kind="stable")
    _, starts, inverse = np.unique(x[order], return_index=True, return_inverse=True)
    w_sorted = weights[..., order]
    group_total = np.add.reduceat(w_sorted, starts, axis=-1) if len(x) else w_sorted
    before = np.cumsum(group_total, axis=-1) - group_total
    mid = before + (group_total + 1.0) / 2.0
    ranks = np.empty_like(weights)
    ranks[..., order] = mid[..., inverse]
    return ranks


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Spearman's rho of the sample that repeats pair i ``weights[..., i]`` times
    (integer weights: exactly ``scipy.stats.spearmanr`` of that expanded sample),
    vectorised over the rows of ``weights``. NaN where a variable is constant."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    rx, ry = weighted_midranks(x, w), weighted_midranks(y, w)
    total = w.sum(axis=-1, keepdims=True)
    mx = safe_div((w * rx).sum(axis=-1, keepdims=True), total)
    my = safe_div((w * ry).sum(axis=-1, keepdims=True), total)
    cov = (w * (rx - mx) * (ry - my)).sum(axis=-1)
    vx = (w * (rx - mx) ** 2).sum(axis=-1)
    vy = (w * (ry - my) ** 2).sum(axis=-1)
    rho = safe_div(cov, np.sqrt(vx * vy))
    return np.clip(rho, -1.0, 1.0)


# -- interval alpha from sums ---------------------------------------------------------------

def interval_alpha_parts(unit_codes: np.ndarray, values: np.ndarray, n_units: int) -> np.ndarray:
    """Per unit ``[sum_{i!=j} (v_i - v_j)^2 / 2 / (m - 1), m, sum v, sum v^2]`` for units
    with two or more values (zeros otherwise): Krippendorff's interval alpha is a
    function of their totals (:func:`interval_alpha`), so it needs no coincidence
    matrix over the (possibly continuous) values."""
    values = np.asarray(values, dtype=float)
    m = np.bincount(unit_codes, minlength=n_units).astype(float)
    s1 = np.bincount(unit_codes, weights=values, minlength=n_units)
    s2 = np.bincount(unit_codes, weights=values**2, minlength=n_units)
    pairable = m >= 2
    within = np.where(pairable, safe_div(m * s2 - s1**2, m - 1.0), 0.0)
    return np.stack([within, m * pairable, s1 * pairable, s2 * pairable], axis=-1)


def interval_alpha(totals: np.ndarray) -> np.ndarray:
    """Interval alpha from summed :func:`interval_alpha_parts` ``(..., 4)``:
    ``1 - (n - 1) * within / (n * sum v^2 - (sum v)^2)``."""
    totals = np.asarray(totals, dtype=float)
    within, n, s1, s2 = (totals[..., k] for k in range(4))
    expected = n * s2 - s1**2
    alpha = 1.0 - (n - 1.0) * safe_div(within, expected)
    return np.where((n > 1) & (expected > 1e-12), alpha, np.nan)


# -- summaries -------------------------------------------------------------------------------

def _bootstrap_for(frames: Sequence[pd.DataFrame | None], bootstrap: CaseBootstrap | None, n_boot: int,
                   seed: int) -> CaseBootstrap:
    if bootstrap is not None:
        return bootstrap
    ids = [f["case_id"] for f in frames if not is_empty(f)]
    return CaseBootstrap.draw(pd.concat(ids) if ids else [], n_boot=n_boot, seed=seed)


def group_means(frame: pd.DataFrame | None, dimensions: Sequence[str], arms: Sequence, bootstrap: CaseBootstrap,
                *, source: str, level: float = 0.95) -> list[dict]:
    """Per dimension x arm: n, n_cases, mean with a cluster-bootstrap CI, sd, median."""
    out: list[dict] = []
    if is_empty(frame):
        return out
    require_columns(frame, ("case_id", "arm", "dimension", "value"), source)
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)
    dim_codes = codes_for(frame["dimension"], list(dimensions))
    arm_codes = codes_for(frame["arm"], list(arms))
    keep = (dim_codes >= 0) & (arm_codes >= 0) & np.isfinite(values)
    values, dim_codes, arm_codes = values[keep], dim_codes[keep], arm_codes[keep]
    case_codes = bootstrap.codes(frame["case_id"].to_numpy()[keep])
    columns = dim_codes * len(arms) + arm_codes
    width = len(dimensions) * len(arms)
    sums = np.zeros((bootstrap.n_cases, width))
    counts = np.zeros((bootstrap.n_cases, width))
    np.add.at(sums, (case_codes, columns), values)
    np.add.at(counts, (case_codes, columns), 1.0)
    means = safe_div(sums.sum(axis=0), counts.sum(axis=0))
    if bootstrap.n_boot:
        boot = safe_div(bootstrap.totals(sums), bootstrap.totals(counts))
        lo, hi = percentile_ci(boot, level)
    else:
        lo = hi = np.full(width, np.nan)
    for d, dim in enumerate(dimensions):
        for a, arm in enumerate(arms):
            c = d * len(arms) + a
            mine = values[columns == c]
            out.append({"source": source, "dimension": dim, "arm": arm, "n": int(counts[:, c].sum()),
                        "n_cases": int((counts[:, c] > 0).sum()), "mean": means[c], "mean_ci": [lo[c], hi[c]],
                        "sd": float(np.std(mine, ddof=1)) if len(mine) > 1 else None,
                        "median": float(np.median(mine)) if len(mine) else None})
    return out


def density_curve(values: Sequence[float], lo: float, hi: float, n_grid: int = 101) -> dict:
    """A Gaussian kernel density estimate on ``[lo, hi]`` with reflection at both
    bounds (so mass near a bound is not lost outside it); Scott's bandwidth
    (``sd * n ** -0.2``, as ``scipy.stats.gaussian_kde``), at least 2% of the range."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    grid = np.linspace(lo, hi, n_grid)
    if len(x) == 0:
        return {"x": grid.tolist(), "y": [0.0] * n_grid, "n": 0, "bandwidth": None}
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
    bandwidth = max(sd * len(x) ** -0.2, 0.02 * (hi - lo))
    centres = np.concatenate([x, 2 * lo - x, 2 * hi - x])
    z = (grid[:, None] - centres[None, :]) / bandwidth
    y = np.exp(-0.5 * z**2).sum(axis=1) / (len(x) * bandwidth * np.sqrt(2 * np.pi))
    return {"x": grid.tolist(), "y": y.tolist(), "n": int(len(x)), "bandwidth": bandwidth}


def judge_densities(judge: pd.DataFrame | None, dimensions: Sequence[Mapping], arms: Sequence,
                    n_grid: int = 101) -> list[dict]:
    """Per judge dimension and arm, the density of the judge's scores over the
    dimension's stored range (``out_min``..``out_max``)."""
    out = []
    if is_empty(judge):
        return out
    for spec in dimensions:
        rows = judge[judge["dimension"] == spec["key"]]
        lo, hi = float(spec.get("out_min", spec.get("min", 0))), float(spec.get("out_max", spec.get("max", 1)))
        for arm in arms:
            values = pd.to_numeric(rows.loc[rows["arm"] == arm, "value"], errors="coerce").dropna().tolist()
            if values:
                curve = density_curve(values, lo, hi, n_grid)
                out.append({"dimension": spec["key"], "arm": arm, "mean": float(np.mean(values)), **curve})
    return out


# -- concordance -------------------------------------------------------------------------------

def _unit_table(judge_rows: pd.DataFrame, rating_rows: pd.DataFrame, unit_columns: Sequence[str]) -> pd.DataFrame:
    """One row per unit that has a judge score and at least one clinician rating:
    case_id, judge (mean judge score), clinicians (mean rating), n_ratings."""
    judged = judge_rows.groupby(list(unit_columns), sort=True, dropna=False)["value"].mean().rename("judge")
    rated = rating_rows.groupby(list(unit_columns), sort=True, dropna=False)["value"].agg(["mean", "count"])
    table = pd.concat([judged, rated.rename(columns={"mean": "clinicians", "count": "n_ratings"})], axis=1,
                      join="inner").reset_index()
    return table


def _alpha_ordinal(unit_codes, values, domain, case_of_unit, n_units, bootstrap, level):
    counts = value_counts_by_unit(unit_codes, codes_for(pd.Series(values), domain), n_units, len(domain))
    contrib = unit_coincidences(counts)
    alpha = float(alpha_from_coincidences(contrib.sum(axis=0), "ordinal"))
    ci, boot = [None, None], None
    if bootstrap is not None and bootstrap.n_boot:
        k = len(domain)
        per_case = sum_rows_by(case_of_unit, contrib.reshape(n_units, k * k), bootstrap.n_cases)
        boot = alpha_from_coincidences(bootstrap.totals(per_case).reshape(-1, k, k), "ordinal")
        ci = list(percentile_ci(boot, level))
    return alpha, ci, boot


def _alpha_interval(unit_codes, values, case_of_unit, n_units, bootstrap, level):
    parts = interval_alpha_parts(unit_codes, values, n_units)
    alpha = float(interval_alpha(parts.sum(axis=0)))
    ci, boot = [None, None], None
    if bootstrap is not None and bootstrap.n_boot:
        boot = interval_alpha(bootstrap.totals(sum_rows_by(case_of_unit, parts, bootstrap.n_cases)))
        ci = list(percentile_ci(boot, level))
    return alpha, ci, boot


def judge_concordance(judge: pd.DataFrame | None, ratings: pd.DataFrame | None, dimensions: Sequence[Mapping], *,
                      bootstrap: CaseBootstrap | None = None, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95, unit_columns: Sequence[str] = ("case_id", "arm")) -> list[dict]:
    """Per Likert ``dimension`` (a spec with key, min, max) that both the judge and the
    clinicians scored: Spearman's rho (judge vs mean clinician rating per unit) with its
    p-value and CI; Krippendorff's alpha of the clinicians alone and with the judge as
    one more rater (ordinal, judge rounded to the nearest level; and interval, judge as
    is) with CIs and the CI of the change; the mean difference judge - clinicians.
    Units need a judge score and at least one clinician rating; alpha uses every
    clinician rating of those units."""
    out: list[dict] = []
    if is_empty(judge) or is_empty(ratings):
        return out
    require_columns(judge, (*unit_columns, "dimension", "value"), "judge")
    require_columns(ratings, (*unit_columns, "rater_id", "dimension", "value"), "ratings")
    boot = _bootstrap_for([judge, ratings], bootstrap, n_boot, seed)
    for spec in dimensions:
        key = spec["key"]
        j_rows = judge[judge["dimension"] == key].assign(value=lambda f: pd.to_numeric(f["value"], errors="coerce"))
        r_rows = ratings[ratings["dimension"] == key].assign(value=lambda f: pd.to_numeric(f["value"], errors="coerce"))
        j_rows, r_rows = j_rows[j_rows["value"].notna()], r_rows[r_rows["value"].notna()]
        record: dict = {"dimension": key, "n_units": 0, "n_cases": 0, "n_ratings": 0, "spearman_rho": None,
                        "spearman_p": None, "spearman_ci": [None, None], "alpha_clinicians": None,
                        "alpha_clinicians_ci": [None, None], "alpha_with_judge": None,
                        "alpha_with_judge_ci": [None, None], "alpha_change_ci": [None, None],
                        "alpha_interval_clinicians": None, "alpha_interval_clinicians_ci": [None, None],
                        "alpha_interval_with_judge": None, "alpha_interval_with_judge_ci": [None, None],
                        "mean_difference": None, "mean_difference_ci": [None, None], "level": level}
        if j_rows.empty or r_rows.empty:
            out.append(record)
            continue
        table = _unit_table(j_rows, r_rows, unit_columns)
        if table.empty:
            out.append(record)
            continue
        unit_case = boot.codes(table["case_id"].to_numpy())
        weights = boot.weights[:, unit_case] if boot.n_boot else None
        x, y = table["judge"].to_numpy(float), table["clinicians"].to_numpy(float)
        record.update(n_units=int(len(table)), n_cases=int(len(np.unique(unit_case))),
                      n_ratings=int(table["n_ratings"].sum()))
        if len(table) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            result = stats.spearmanr(x, y)
            record["spearman_rho"], record["spearman_p"] = float(result.statistic), float(result.pvalue)
        if weights is not None:
            record["spearman_ci"] = list(percentile_ci(weighted_spearman(x, y, weights), level))
        diff = x - y
        record["mean_difference"] = float(diff.mean())
        if weights is not None:
            sums = sum_rows_by(unit_case, diff[:, None], boot.n_cases)
            counts = sum_rows_by(unit_case, np.ones((len(diff), 1)), boot.n_cases)
            record["mean_difference_ci"] = list(percentile_ci(safe_div(boot.totals(sums), boot.totals(counts))[:, 0],
                                                              level))

        # Krippendorff's alpha over the units above: clinicians, then clinicians + judge.
        in_units = r_rows.merge(table[list(unit_columns)], on=list(unit_columns), how="inner")
        judge_as_rater = table[list(unit_columns)].assign(rater_id=JUDGE_RATER, value=table["judge"])
        both = pd.concat([in_units[[*unit_columns, "rater_id", "value"]], judge_as_rater], ignore_index=True)
        lo, hi = spec.get("min"), spec.get("max")
        rounded = both["value"].to_numpy(float).copy()
        is_judge = (both["rater_id"] == JUDGE_RATER).to_numpy()
        if lo is not None and hi is not None:
            rounded[is_judge] = np.clip(np.floor(rounded[is_judge] + 0.5), lo, hi)
        else:
            rounded[is_judge] = np.floor(rounded[is_judge] + 0.5)
        domain = likert_levels(spec, rounded).tolist()
        unit_codes, n_units = combined_codes(both, unit_columns)
        case_of_unit = np.zeros(n_units, dtype=np.int64)
        case_of_unit[unit_codes] = boot.codes(both["case_id"].to_numpy())
        clin = ~is_judge
        a_c, ci_c, boot_c = _alpha_ordinal(unit_codes[clin], rounded[clin], domain, case_of_unit, n_units,
                                           boot, level)
        a_j, ci_j, boot_j = _alpha_ordinal(unit_codes, rounded, domain, case_of_unit, n_units, boot, level)
        i_c, ici_c, _ = _alpha_interval(unit_codes[clin], both["value"].to_numpy(float)[clin], case_of_unit,
                                        n_units, boot, level)
        i_j, ici_j, _ = _alpha_interval(unit_codes, both["value"].to_numpy(float), case_of_unit, n_units, boot,
                                        level)
        record.update(alpha_clinicians=a_c, alpha_clinicians_ci=ci_c, alpha_with_judge=a_j, alpha_with_judge_ci=ci_j,
                      alpha_interval_clinicians=i_c, alpha_interval_clinicians_ci=ici_c,
                      alpha_interval_with_judge=i_j, alpha_interval_with_judge_ci=ici_j)
        if boot_c is not None:
            record["alpha_change_ci"] = list(percentile_ci(boot_j - boot_c, level))
        out.append(record)
    return out


def judge_scatter(judge: pd.DataFrame | None, ratings: pd.DataFrame | None, dimensions: Sequence[str], *,
                  unit_columns: Sequence[str] = ("case_id", "arm"), limit: int = 5000) -> list[dict]:
    """Per dimension, up to ``limit`` units as (judge score, mean clinician rating, arm)."""
    out: list[dict] = []
    if is_empty(judge) or is_empty(ratings):
        return out
    for key in dimensions:
        j_rows = judge[judge["dimension"] == key]
        r_rows = ratings[ratings["dimension"] == key]
        if j_rows.empty or r_rows.empty:
            continue
        group = list(dict.fromkeys([*unit_columns, "arm"]))
        judged = j_rows.groupby(group, sort=True)["value"].mean().rename("judge")
        rated = r_rows.groupby(group, sort=True)["value"].mean().rename("clinicians")
        table = pd.concat([judged, rated], axis=1, join="inner").reset_index().head(limit)
        out.append({"dimension": key, "judge": table["judge"].tolist(), "clinicians": table["clinicians"].tolist(),
                    "arm": table["arm"].tolist()})
    return out


# -- everything for the judge page -------------------------------------------------------------------

def judge_analysis(judge: pd.DataFrame | None, ratings: pd.DataFrame | None, judge_dimensions: Sequence[Mapping],
                   rating_dimensions: Sequence[Mapping], *, comparisons: pd.DataFrame | None = None,
                   arms: Sequence | None = None, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                   unit_columns: Sequence[str] = ("case_id", "arm")) -> dict:
    """The judge page's whole analysis, one dict: judge and clinician means per arm
    (same resampled cases), densities of judge scores per arm, concordance per shared
    Likert dimension, scatter points and pairwise consistency."""
    arms = arm_order(judge, ratings, arms=arms)
    boot = _bootstrap_for([judge, ratings], None, n_boot, seed)
    judge_keys = [d["key"] for d in judge_dimensions]
    likert = {d["key"]: d for d in rating_dimensions if d.get("scale") == "likert"}
    shared = [likert[k] for k in judge_keys if k in likert]
    return {
        "meta": {"arms": list(arms), "judge_dimensions": list(judge_dimensions),
                 "shared_dimensions": [d["key"] for d in shared], "n_boot": n_boot, "seed": seed, "level": level,
                 "n_judge_scores": 0 if is_empty(judge) else int(judge["value"].notna().sum()),
                 "n_ratings": 0 if is_empty(ratings) else int(len(ratings)), "n_cases": boot.n_cases},
        "means": (group_means(judge, judge_keys, arms, boot, source="judge", level=level)
                  + group_means(ratings, [d["key"] for d in shared], arms, boot, source="clinicians", level=level)),
        "densities": judge_densities(judge, judge_dimensions, arms),
        "concordance": judge_concordance(judge, ratings, shared, bootstrap=boot, level=level,
                                         unit_columns=unit_columns),
        "scatter": judge_scatter(judge, ratings, [d["key"] for d in shared], unit_columns=unit_columns),
        "pairwise": pairwise_consistency(comparisons, arms=arms, level=level),
    }
