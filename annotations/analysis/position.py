"""Position-bias audit: do raters favour a slot (Response A, B, ...) regardless of the
arm shown there?

- First choices: among rankings with a single best response, the share ranked first
  in each slot against 1/n_slots (rankings grouped by how many slots they had): a
  chi-square goodness-of-fit test over slots, and per slot an exact binomial test and a
  Wilson interval.
- Likert by slot: per dimension and slot, the mean score, and the slot effect: the
  within-response estimate of a fixed-effects model ``score = response + slot_s +
  error`` (``sum_s slot_s = 0``), i.e. how much higher a response is scored in slot s
  than the same response in the average slot. Arms rotate over slots, so the same
  response is seen in different slots by different raters, and this contrast is free
  of arm and case effects. Its normal equations are sums of per-response terms
  (``diag(c) - c c^T / m`` and ``sums - c * total / m``, c the response's ratings per
  slot), so a cluster bootstrap is again one matrix product and a batched solve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from annotations.analysis._common import combined_codes, is_empty, likert_specs, require_columns, safe_div, wilson_ci
from annotations.analysis.bootstrap import CaseBootstrap
from modeling.bootstrap import as_rows, per_case_bincount, percentile_ci, sum_rows_by


def first_choice_by_slot(preferences: pd.DataFrame, level: float = 0.95) -> list[dict]:
    """Per number of slots shown: how often each slot held the single best-ranked
    response. Rankings whose best rank is shared (a tie for first) are counted in
    ``n_tied_first`` and left out of the test; rankings with a rank missing are counted
    in ``n_incomplete`` (under the number of slots shown) and left out. Records: n_slots,
    n_rankings, n_tied_first, n_incomplete, counts, shares, ci_low, ci_high, expected_share, chi2, p_value
    (goodness of fit to uniform), binom_p_values (each slot vs 1/n_slots, two-sided)."""
    if is_empty(preferences):
        return []
    require_columns(preferences, ("assignment_id", "slot", "rank"), "preferences")
    frame = pd.DataFrame({
        "a": pd.factorize(preferences["assignment_id"])[0],
        "slot": pd.to_numeric(preferences["slot"], errors="coerce"),
        "rank": pd.to_numeric(preferences["rank"], errors="coerce"),
    }).dropna(subset=["slot"])
    # A ranking with a rank missing is incomplete, not a ranking of fewer slots: it is
    # counted (n_incomplete) and left out, so its slots are not shifted into a smaller group.
    shown = frame.groupby("a")["slot"].transform("size")
    complete = frame.groupby("a")["rank"].transform("count") == shown
    incomplete = frame.loc[~complete].assign(m=shown[~complete]).groupby("m")["a"].nunique()
    frame = frame[complete]
    grouped = frame.groupby("a")
    n_slots = grouped["slot"].transform("size").to_numpy()
    best = grouped["rank"].transform("min").to_numpy()
    is_best = frame["rank"].to_numpy() == best
    n_best = pd.Series(is_best).groupby(frame["a"].to_numpy()).transform("sum").to_numpy()
    out = []
    for m in sorted(np.unique(n_slots)):
        if m < 2:
            continue
        in_group = n_slots == m
        rankings = frame["a"].to_numpy()[in_group]
        n_rankings_all = len(np.unique(rankings))
        single = in_group & is_best & (n_best == 1)
        slots = frame["slot"].to_numpy()[single].astype(int)
        slots = slots[(slots >= 0) & (slots < m)]
        counts = np.bincount(slots, minlength=m)[:m]
        n = int(counts.sum())
        lo, hi = wilson_ci(counts, n, level)
        record = {"n_slots": int(m), "n_rankings": n, "n_tied_first": int(n_rankings_all - n),
                  "n_incomplete": int(incomplete.get(m, 0)),
                  "counts": counts.tolist(), "shares": safe_div(counts, n).tolist(),
                  "ci_low": lo.tolist(), "ci_high": hi.tolist(), "expected_share": 1.0 / m,
                  "chi2": None, "p_value": None, "binom_p_values": [None] * m}
        if n:
            chi = stats.chisquare(counts)
            record.update({"chi2": float(chi.statistic), "p_value": float(chi.pvalue),
                           "binom_p_values": [float(stats.binomtest(int(c), n, 1.0 / m).pvalue) for c in counts]})
        out.append(record)
    return out


def slot_effects(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve the within-response normal equations ``gram @ d = rhs`` under ``sum(d) =
    0`` (batched over leading axes): ``(gram + 1 1^T) d = rhs``, since ``gram @ 1 = 0``
    and ``sum(rhs) = 0``."""
    n_slots = gram.shape[-1]
    system = gram + np.ones((n_slots, n_slots))
    try:
        return np.linalg.solve(system, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return (np.linalg.pinv(system) @ rhs[..., None])[..., 0]


def likert_by_slot(ratings: pd.DataFrame, dimensions: Sequence[Mapping], *, bootstrap: CaseBootstrap | None = None,
                   level: float = 0.95) -> list[dict]:
    """Per Likert dimension and slot: n, mean score, and the within-response slot effect
    (see the module docstring) with ``n_effect`` (ratings in that slot of responses
    rated at least twice), and cluster-bootstrap CIs of both when a bootstrap is given.
    The slot effect is None for a slot without such ratings."""
    if is_empty(ratings):
        return []
    require_columns(ratings, ("case_id", "arm", "slot", "dimension", "value"), "ratings")
    out = []
    for spec in likert_specs(dimensions):
        rows = ratings[ratings["dimension"] == spec["key"]]
        values = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)
        slots = pd.to_numeric(rows["slot"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(values) & np.isfinite(slots) & (slots >= 0)
        rows, values, slots = rows[ok], values[ok], slots[ok].astype(np.int64)
        if len(rows) == 0:
            continue
        n_slots = int(slots.max()) + 1
        unit, n_units = combined_codes(rows, ("case_id", "arm"))
        case = bootstrap.codes(rows["case_id"].to_numpy()) if bootstrap is not None else np.zeros(len(rows), int)
        n_cases = bootstrap.n_cases if bootstrap is not None else 1
        # Per response: ratings and score sums per slot.
        c = per_case_bincount(unit, slots, n_units, n_slots)
        sums = per_case_bincount(unit, slots, n_units, n_slots, weights=values)
        m = c.sum(axis=1)
        multi = m >= 2
        gram = np.zeros((n_units, n_slots, n_slots))
        gram[:, np.arange(n_slots), np.arange(n_slots)] = c
        gram -= c[:, :, None] * c[:, None, :] / m[:, None, None]
        rhs = sums - c * (sums.sum(axis=1) / m)[:, None]
        unit_case = np.zeros(n_units, dtype=np.int64)
        unit_case[unit] = case
        # Per case: [count, score sum, count in multi-rated responses] per slot, the gram
        # matrix and the right-hand side.
        per_unit = np.concatenate([c, sums, c * multi[:, None], as_rows(gram), rhs], axis=1)
        table = sum_rows_by(unit_case, per_unit, n_cases)
        total = table.sum(axis=0)
        parts = np.split(np.arange(table.shape[1]), np.cumsum([n_slots, n_slots, n_slots, n_slots * n_slots]))
        n, score_sum, n_eff = total[parts[0]], total[parts[1]], total[parts[2]]
        mean = safe_div(score_sum, n)
        effect = np.where(n_eff > 0, slot_effects(total[parts[3]].reshape(n_slots, n_slots), total[parts[4]]), np.nan)
        nan = np.full(n_slots, np.nan)
        m_lo = m_hi = e_lo = e_hi = nan
        if bootstrap is not None and bootstrap.n_boot:
            boot = bootstrap.totals(table)
            m_lo, m_hi = percentile_ci(safe_div(boot[:, parts[1]], boot[:, parts[0]]), level)
            b_eff = slot_effects(boot[:, parts[3]].reshape(-1, n_slots, n_slots), boot[:, parts[4]])
            e_lo, e_hi = percentile_ci(np.where(boot[:, parts[2]] > 0, b_eff, np.nan), level)
        for s in range(n_slots):
            out.append({"dimension": spec["key"], "slot": s, "n": int(n[s]), "mean": mean[s],
                        "mean_ci": [m_lo[s], m_hi[s]], "n_effect": int(n_eff[s]), "slot_effect": effect[s],
                        "slot_effect_ci": [e_lo[s], e_hi[s]]})
    return out
