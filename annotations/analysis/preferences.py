"""Overall preferences: each rater ranks the responses of a case (1 = best, equal ranks
are ties). A ranking of m responses gives its m(m-1)/2 pairwise comparisons; from
them come

- pairwise win / tie / loss counts per pair of arms with Wilson intervals, and a
  win-rate matrix (ties counted as half a win);
- Bradley-Terry strengths with a position term:
  ``P(i beats j | i shown before j) = expit(beta_i - beta_j + gamma)``,
  ``gamma`` being the log-odds advantage of the earlier slot (A over B, B over C, ...),
  fitted by maximum likelihood (a logistic regression of the comparisons,
  :mod:`.logistic`),
  a tie counting as half a win for each side; identified by ``sum(beta) = 0``, with
  percentile cluster-bootstrap intervals over cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from annotations.analysis._common import arm_order, codes_for, is_empty, pair_list, require_columns, safe_div, wilson_ci
from annotations.analysis.bootstrap import CaseBootstrap, ensure_bootstrap
from annotations.analysis.logistic import fit_logistic, separated
from modeling.bootstrap import as_rows, per_case_bincount, percentile_ci


@dataclass
class Comparisons:
    """Pairwise comparisons derived from rankings, one element per pair of responses
    ranked together: ``first`` is the arm shown in the earlier slot, ``second`` the
    later one, ``outcome`` the result for ``first`` (1 win, 0.5 tie, 0 loss);
    ``first_row`` and ``second_row`` are the two responses' positions in the
    preferences frame (where their style is read, :mod:`.style_control`)."""

    arms: list
    case: np.ndarray      # case code (bootstrap index) or -1
    assignment: np.ndarray
    first: np.ndarray
    second: np.ndarray
    outcome: np.ndarray
    n_rankings: int
    first_row: np.ndarray | None = None
    second_row: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.first.size)


def ranking_comparisons(preferences: pd.DataFrame, arms: Sequence,
                        bootstrap: CaseBootstrap | None = None) -> Comparisons:
    """Every pair of responses ranked in the same assignment (vectorised: rows are
    sorted by assignment and slot, and row r is compared with row r + k for k = 1, 2,
    ... while both belong to the same assignment). Pairs of the same arm, rows of
    unknown arms and rows without a rank are left out."""
    empty = np.zeros(0, dtype=np.int64)
    if is_empty(preferences):
        return Comparisons(list(arms), empty, empty, empty, empty, np.zeros(0), 0)
    require_columns(preferences, ("assignment_id", "case_id", "arm", "slot", "rank"), "preferences")
    rank = pd.to_numeric(preferences["rank"], errors="coerce").to_numpy(dtype=float)
    slot = pd.to_numeric(preferences["slot"], errors="coerce").to_numpy(dtype=float)
    arm = codes_for(preferences["arm"], arms)
    assignment = pd.factorize(preferences["assignment_id"])[0]
    ok = (arm >= 0) & np.isfinite(rank) & np.isfinite(slot) & (assignment >= 0)
    if bootstrap is not None:
        case = np.full(len(preferences), -1, dtype=np.int64)
        case[ok] = bootstrap.codes(preferences["case_id"].to_numpy()[ok])
    else:
        case = pd.factorize(preferences["case_id"])[0].astype(np.int64)
    idx = np.flatnonzero(ok)
    idx = idx[np.lexsort((slot[idx], assignment[idx]))]
    a, s, r, c, g = assignment[idx], slot[idx], rank[idx], case[idx], arm[idx]
    firsts, seconds, outcomes, cases, assigns, first_rows, second_rows = [], [], [], [], [], [], []
    k = 1
    while k < len(idx):
        same = a[:-k] == a[k:]
        if not same.any():
            break
        i = np.flatnonzero(same)
        j = i + k
        keep = (g[i] != g[j]) & (s[i] != s[j])
        i, j = i[keep], j[keep]
        firsts.append(g[i])
        seconds.append(g[j])
        outcomes.append(np.where(r[i] < r[j], 1.0, np.where(r[i] == r[j], 0.5, 0.0)))
        cases.append(c[i])
        assigns.append(a[i])
        first_rows.append(idx[i])
        second_rows.append(idx[j])
        k += 1
    if not firsts:
        return Comparisons(list(arms), empty, empty, empty, empty, np.zeros(0), int(len(np.unique(a))))
    return Comparisons(list(arms), np.concatenate(cases), np.concatenate(assigns), np.concatenate(firsts),
                       np.concatenate(seconds), np.concatenate(outcomes), int(len(np.unique(a))),
                       np.concatenate(first_rows), np.concatenate(second_rows))


def pairwise_outcomes(comparisons: Comparisons, level: float = 0.95) -> dict:
    """Win / tie / loss counts per pair of arms (``arm_a`` before ``arm_b`` in arm
    order), with Wilson intervals for the win, tie and loss rates and for the win rate
    among decided comparisons, and the score ``(wins + ties / 2) / n``.

    Returns ``{"pairs": [...], "win_matrix": {"arms", "score", "n"}}`` where
    ``score[i][j]`` is arm i's score against arm j (None on the diagonal and where
    the arms never met)."""
    arms = comparisons.arms
    n_arms = len(arms)
    lo_arm = np.minimum(comparisons.first, comparisons.second)
    hi_arm = np.maximum(comparisons.first, comparisons.second)
    # Outcome from the point of view of the arm earlier in arm order.
    outcome = np.where(comparisons.first == lo_arm, comparisons.outcome, 1.0 - comparisons.outcome)
    kind = np.where(outcome == 1.0, 0, np.where(outcome == 0.5, 1, 2))  # win, tie, loss for lo_arm
    cell = (lo_arm * n_arms + hi_arm) * 3 + kind
    table = np.bincount(cell, minlength=n_arms * n_arms * 3).reshape(n_arms, n_arms, 3)
    pairs = []
    score = np.full((n_arms, n_arms), np.nan)
    n_matrix = np.zeros((n_arms, n_arms), dtype=int)
    for i, j in pair_list(arms):
        wins, ties, losses = (int(v) for v in table[i, j])
        n = wins + ties + losses
        decided = wins + losses
        (w_lo, t_lo, l_lo, d_lo), (w_hi, t_hi, l_hi, d_hi) = wilson_ci(
            [wins, ties, losses, wins], [n, n, n, decided], level)
        s = float(safe_div(wins + 0.5 * ties, n))
        score[i, j], score[j, i] = s, 1.0 - s
        n_matrix[i, j] = n_matrix[j, i] = n
        pairs.append({
            "arm_a": arms[i], "arm_b": arms[j], "n": n, "wins_a": wins, "ties": ties, "wins_b": losses,
            "win_rate_a": float(safe_div(wins, n)), "win_rate_a_ci": [float(w_lo), float(w_hi)],
            "tie_rate": float(safe_div(ties, n)), "tie_rate_ci": [float(t_lo), float(t_hi)],
            "win_rate_b": float(safe_div(losses, n)), "win_rate_b_ci": [float(l_lo), float(l_hi)],
            "win_rate_a_decided": float(safe_div(wins, decided)), "win_rate_a_decided_ci": [float(d_lo), float(d_hi)],
            "score_a": s,
        })
    return {"pairs": pairs, "win_matrix": {"arms": arms, "score": score.tolist(), "n": n_matrix.tolist()},
            # A case rated by several raters gives correlated comparisons; these intervals
            # do not account for that (the Bradley-Terry intervals are the clustered ones).
            "ci_method": "Wilson, comparisons treated as independent (not clustered by case)"}


def comparison_cells(comparisons: Comparisons, n_cases: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sufficient statistics for Bradley-Terry: ``n[f, s]`` comparisons with arm f shown
    before arm s and ``w[f, s]`` the wins of f among them (ties as 1/2). With ``n_cases``
    the tables are per case: ``(n_cases, A, A)``."""
    n_arms = len(comparisons.arms)
    cell = comparisons.first * n_arms + comparisons.second
    if n_cases is None:
        n = np.bincount(cell, minlength=n_arms * n_arms).astype(float).reshape(n_arms, n_arms)
        w = np.bincount(cell, weights=comparisons.outcome, minlength=n_arms * n_arms).reshape(n_arms, n_arms)
        return n, w
    n = per_case_bincount(comparisons.case, cell, n_cases, n_arms * n_arms)
    w = per_case_bincount(comparisons.case, cell, n_cases, n_arms * n_arms, weights=comparisons.outcome)
    return n.reshape(n_cases, n_arms, n_arms), w.reshape(n_cases, n_arms, n_arms)


def bt_design(n_arms: int, position: bool) -> np.ndarray:
    """Design rows for the cells (f, s), flattened f * A + s: ``e_f - e_s`` without the
    last arm (the reference, beta_last = 0 while fitting), then 1 for the position term."""
    eye = np.eye(n_arms)
    diff = (eye[:, None, :] - eye[None, :, :]).reshape(n_arms * n_arms, n_arms)[:, :-1]
    if position:
        diff = np.concatenate([diff, np.ones((n_arms * n_arms, 1))], axis=1)
    return diff


class CellSeparation:
    """:func:`~annotations.analysis.logistic.separated` over Bradley-Terry cells, kept per
    pattern of which cells are absent, all won, all lost or mixed: bootstrap resamples
    mostly share a few patterns, and the answer depends on nothing else."""

    def __init__(self, n_arms: int, position: bool) -> None:
        self.design = bt_design(n_arms, position)
        self.known: dict[bytes, bool] = {}

    def __call__(self, n: np.ndarray, w: np.ndarray) -> bool:
        pattern = np.where(n <= 0, 0, np.where(w >= n, 1, np.where(w <= 0, 2, 3))).astype(np.int8).tobytes()
        if pattern not in self.known:
            self.known[pattern] = separated(self.design, n, w)
        return self.known[pattern]


def fit_bradley_terry(n: np.ndarray, w: np.ndarray, *, position: bool = True,
                      start: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Maximum-likelihood Bradley-Terry fit with an optional position term.

    ``n`` and ``w`` are ``(..., A, A)`` (see :func:`comparison_cells`); each leading-axis
    problem is one logistic regression of the cells on :func:`bt_design`
    (:func:`~annotations.analysis.logistic.fit_logistic`), warm-started from ``start``
    (``(A,)`` log-strengths summing to 0, then gamma) when given. Returns ``beta``
    ``(..., A)`` centred so that it sums to 0, ``gamma`` ``(...)`` (0 without the
    position term) and ``converged`` ``(...)``: False where no finite maximum exists (an
    arm that never loses, say), the estimates then large and meaningless."""
    n = np.asarray(n, dtype=float)
    w = np.asarray(w, dtype=float)
    lead = n.shape[:-2]
    n_arms = n.shape[-1]
    flat_n = n.reshape(-1, n_arms * n_arms)
    flat_w = w.reshape(-1, n_arms * n_arms)
    is_separated = CellSeparation(n_arms, position)
    theta0 = None
    if start is not None:
        start = np.asarray(start, dtype=float)
        theta0 = start[:n_arms - 1] - start[n_arms - 1]
        if position:
            theta0 = np.append(theta0, start[n_arms])
    n_par = n_arms - 1 + int(position)
    theta = np.zeros((flat_n.shape[0], n_par))
    converged = np.zeros(flat_n.shape[0], dtype=bool)
    for b in range(flat_n.shape[0]):
        fit = fit_logistic(is_separated.design, flat_n[b], flat_w[b], start=theta0,
                           is_separated=is_separated(flat_n[b], flat_w[b]))
        theta[b], converged[b] = fit.theta, fit.converged
    beta = np.concatenate([theta[:, :n_arms - 1], np.zeros((theta.shape[0], 1))], axis=1)
    beta -= beta.mean(axis=1, keepdims=True)
    gamma = theta[:, -1] if position else np.zeros(theta.shape[0])
    return {"beta": beta.reshape((*lead, n_arms)), "gamma": gamma.reshape(lead),
            "converged": converged.reshape(lead)}


def bradley_terry(preferences: pd.DataFrame | Comparisons, *, arms: Sequence | None = None,
                  bootstrap: CaseBootstrap | None = None, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95, position: bool = True) -> dict:
    """Bradley-Terry strengths with a position term and cluster-bootstrap CIs.

    Returns the arms, ``log_strength`` (beta, sums to 0) and ``strength`` (``exp(beta)``
    normalised to sum to 1, the chance of being preferred to the average arm), each
    with CIs; ``position_log_odds`` (gamma) and ``p_earlier_wins`` (expit(gamma): the
    chance that the earlier of two equally strong responses wins) with CIs;
    ``win_probability[i][j] = expit(beta_i - beta_j)`` (position-neutral); counts,
    ``converged`` and the number of resamples whose fit converged."""
    if isinstance(preferences, Comparisons):
        comparisons = preferences
        arms = comparisons.arms
        if bootstrap is None and n_boot:
            raise ValueError("with precomputed comparisons, pass the bootstrap they were coded with")
        boot = bootstrap
    else:
        arms = arm_order(preferences, arms=arms)
        ids = [] if is_empty(preferences) else preferences["case_id"]
        boot = ensure_bootstrap(bootstrap, ids, n_boot, seed) if (bootstrap is not None or n_boot) else None
        comparisons = ranking_comparisons(preferences, arms, boot)
    n_arms = len(arms)
    n_obs, w_obs = comparison_cells(comparisons)
    compared = (n_obs.sum(axis=0) + n_obs.sum(axis=1)) > 0
    if n_obs.sum() > 0 and not compared.all() and compared.sum() >= 2:
        # An arm never compared would get a strength from the sum-to-zero constraint
        # alone and shift the others': fit without it and say so.
        return _without_uncompared(comparisons, compared, boot, position=position, level=level)
    result = {"arms": list(arms), "ties": "half", "position": position, "n_rankings": comparisons.n_rankings,
              "n_comparisons": int(n_obs.sum()), "n_ties": int((comparisons.outcome == 0.5).sum()),
              "arms_left_out": []}
    if n_obs.sum() == 0 or n_arms < 2:
        return {**result, "log_strength": [None] * n_arms, "strength": [None] * n_arms, "converged": False}
    fit = fit_bradley_terry(n_obs, w_obs, position=position)
    beta = fit["beta"]
    strength = np.exp(beta) / np.exp(beta).sum()
    result.update({
        "log_strength": beta.tolist(), "strength": strength.tolist(),
        "position_log_odds": float(fit["gamma"]), "p_earlier_wins": float(expit(fit["gamma"])),
        "win_probability": expit(beta[:, None] - beta[None, :]).tolist(),
        "converged": bool(fit["converged"]),
    })
    if boot is not None and boot.n_boot:
        n_case, w_case = comparison_cells(comparisons, boot.n_cases)
        stacked = np.concatenate([as_rows(n_case), as_rows(w_case)], axis=1)
        totals = boot.totals(stacked)
        n_b = totals[:, :n_arms * n_arms].reshape(-1, n_arms, n_arms)
        w_b = totals[:, n_arms * n_arms:].reshape(-1, n_arms, n_arms)
        start = np.append(beta, fit["gamma"]) if position else beta
        bfit = fit_bradley_terry(n_b, w_b, position=position, start=start)
        # A resample whose fit did not converge sits at an arbitrary point of a ridge:
        # its estimates are left out of the intervals, which are withheld (None) when the
        # point fit itself, or most resamples, did not converge: a tight interval around
        # a divergent estimate would look like certainty.
        ok = bfit["converged"]
        bbeta = np.where(ok[:, None], bfit["beta"], np.nan)
        bstrength = np.exp(bbeta) / np.exp(bbeta).sum(axis=1, keepdims=True)
        b_lo, b_hi = percentile_ci(bbeta, level)
        s_lo, s_hi = percentile_ci(bstrength, level)
        g_lo, g_hi = percentile_ci(np.where(ok, bfit["gamma"], np.nan), level)
        if not result["converged"] or ok.sum() < boot.n_boot / 2:
            result.update({"log_strength_ci": [[None, None]] * n_arms, "strength_ci": [[None, None]] * n_arms,
                           "position_log_odds_ci": [None, None], "p_earlier_wins_ci": [None, None],
                           "n_boot": boot.n_boot, "n_boot_converged": int(ok.sum()),
                           "note": "the fit did not converge (an arm that never loses or never wins?): "
                                   "no intervals"})
            return result
        result.update({
            "log_strength_ci": np.stack([b_lo, b_hi], axis=1).tolist(),
            "strength_ci": np.stack([s_lo, s_hi], axis=1).tolist(),
            "position_log_odds_ci": [float(g_lo), float(g_hi)],
            "p_earlier_wins_ci": [float(expit(g_lo)), float(expit(g_hi))],
            "n_boot": boot.n_boot, "n_boot_converged": int(bfit["converged"].sum()),
        })
    return result


def _without_uncompared(comparisons: Comparisons, compared: np.ndarray, boot: CaseBootstrap | None, *,
                        position: bool, level: float) -> dict:
    """:func:`bradley_terry` over the arms that were compared, the others reported with
    None strengths and named in ``arms_left_out``."""
    arms = comparisons.arms
    kept = [a for a, c in zip(arms, compared) if c]
    new_code = np.cumsum(compared) - 1
    sub = Comparisons(kept, comparisons.case, comparisons.assignment, new_code[comparisons.first],
                      new_code[comparisons.second], comparisons.outcome, comparisons.n_rankings,
                      comparisons.first_row, comparisons.second_row)
    fit = bradley_terry(sub, bootstrap=boot, n_boot=boot.n_boot if boot is not None else 0, level=level,
                        position=position)
    out = dict(fit)
    out["arms"] = list(arms)
    out["arms_left_out"] = [a for a, c in zip(arms, compared) if not c]
    for key in ("log_strength", "strength", "log_strength_ci", "strength_ci"):
        if key in fit:
            values = iter(fit[key])
            empty = [None, None] if key.endswith("_ci") else None
            out[key] = [next(values) if c else empty for c in compared]
    if "win_probability" in fit:
        rows = iter(fit["win_probability"])
        full = []
        for c in compared:
            row = next(rows) if c else None
            cells = iter(row) if row is not None else None
            full.append([next(cells) if (cells is not None and d) else None for d in compared])
        out["win_probability"] = full
    return out
