"""Style-controlled Bradley-Terry, the way Chatbot Arena controls for style (Li,
Angelopoulos and Chiang, "Does style matter? Disentangling style and substance in
Chatbot Arena", LMSYS blog, 2024).

Raters may prefer longer or more formatted answers whatever their substance. Beside the
arms' strengths and the position term of :func:`.preferences.bradley_terry`, the
logistic regression gets one covariate per style feature of the two responses compared,
``a`` shown earlier and ``b`` later:

    (f_a - f_b) / (f_a + f_b)      (0 where both are 0)

for the length and the counts of Markdown headers, list items and bold spans (:func:`style_counts`),
each divided by its standard deviation over the comparisons. The covariates are not
centred, so that 0 still means "equal style" and the position term keeps its meaning.
The arm coefficients are then the style-controlled strengths, and a style coefficient
is the log-odds of winning per standard deviation of that difference (length +0.31 per SD:
the longer of two otherwise equal responses, one SD longer, wins with odds e^0.31).

Length is the response's ``completion_tokens`` where every compared response has it,
else its words (the analysis loads no tokenizer); ``length_unit`` says which. The same
cluster bootstrap over cases as the plain fit gives the intervals.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.logistic import fit_logistic, separated
from annotations.analysis.preferences import CellSeparation, Comparisons, comparison_cells
from modeling.bootstrap import as_rows, percentile_ci

# Columns of the preferences frame the style features are read from: the stored token
# count (None where the arm reported none) and :func:`style_counts` of the shown text.
STYLE_COLUMNS = ("completion_tokens", "words", "headers", "list_items", "bold")
STYLE_FEATURES = ("length", "headers", "list_items", "bold")
# A resample's fit predicting some comparison at odds beyond e^5 (150 to 1) is checked for
# separation by the exact linear programme. A separated fit always gets there: the
# optimiser stops only once each separated cell's share of the gradient, n_c
# expit(-|x theta|), is below its tolerance. Checking only those keeps the programme off
# the many resamples of a large study.
_EXTREME_LOG_ODDS = 5.0

_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*(?=\S)[^\n]+?(?<=\S)\*\*|__(?=\S)[^\n]+?(?<=\S)__")


def style_counts(text: str) -> tuple[int, int, int, int]:
    """``(words, headers, list items, bold spans)`` of a response's Markdown as a rater
    saw it: ATX headers (``# ...``), bulleted and numbered list items, ``**bold**`` and
    ``__bold__`` spans."""
    text = text or ""
    return (len(text.split()), len(_HEADER.findall(text)), len(_LIST_ITEM.findall(text)),
            len(_BOLD.findall(text)))


def _lengths(preferences: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, str]:
    """Each row's length and its unit: tokens where every compared response has a token
    count, else words (one unit for all, or the ratios would mix them)."""
    tokens = pd.to_numeric(preferences["completion_tokens"], errors="coerce").to_numpy(dtype=float)
    if rows.size and np.isfinite(tokens[rows]).all():
        return tokens, "tokens"
    return pd.to_numeric(preferences["words"], errors="coerce").to_numpy(dtype=float), "words"


def _features(values: dict[str, np.ndarray], comparisons: Comparisons) -> tuple[list[str], np.ndarray, list]:
    """The standardised normalised differences, one column per feature that varies."""
    kept, columns, scales = [], [], []
    for name in STYLE_FEATURES:
        v = np.nan_to_num(values[name], nan=0.0)
        a, b = v[comparisons.first_row], v[comparisons.second_row]
        total = a + b
        ratio = np.divide(a - b, total, out=np.zeros_like(total), where=total > 0)
        sd = float(ratio.std())
        if sd > 0:
            kept.append(name)
            columns.append(ratio / sd)
            scales.append(sd)
    matrix = np.column_stack(columns) if columns else np.zeros((len(comparisons), 0))
    return kept, matrix, scales


def style_controlled_bradley_terry(preferences: pd.DataFrame, comparisons: Comparisons, *,
                                   bootstrap: CaseBootstrap | None, level: float = 0.95,
                                   position: bool = True) -> dict:
    """Bradley-Terry with a position term and style covariates over ``comparisons``
    (from :func:`.preferences.ranking_comparisons` of ``preferences``, coded with
    ``bootstrap``), the preferences carrying :data:`STYLE_COLUMNS`.

    Returns the arms, ``log_strength`` (sums to 0 over the compared arms; None for an
    arm never compared) and ``strength`` with CIs, ``position_log_odds`` with its CI,
    ``style`` (per feature: the coefficient per SD with its CI, or None where the feature
    never differs between compared responses), ``length_unit``, ``mean_length`` per arm
    (over the responses as ranked), ``converged`` and the resamples that converged."""
    arms = list(comparisons.arms)
    n_arms = len(arms)
    result = {"arms": arms, "position": position, "n_comparisons": len(comparisons), "available": False,
              "log_strength": [None] * n_arms, "strength": [None] * n_arms, "converged": False}
    if (preferences is None or any(c not in preferences.columns for c in STYLE_COLUMNS)
            or (len(comparisons) and comparisons.first_row is None)):
        return {**result, "note": "the responses' style was not read with the rankings"}
    rows = np.concatenate([comparisons.first_row, comparisons.second_row]) if len(comparisons) else np.zeros(0, int)
    length, unit = _lengths(preferences, rows)
    arm_of_row = preferences["arm"].to_numpy()
    result.update({"available": True, "length_unit": unit,
                   "mean_length": [float(np.nanmean(length[arm_of_row == a])) if (arm_of_row == a).any()
                                   and np.isfinite(length[arm_of_row == a]).any() else None for a in arms]})
    compared = np.zeros(n_arms, dtype=bool)
    compared[comparisons.first] = compared[comparisons.second] = True
    if compared.sum() < 2:
        return {**result, "style": _no_style()}
    values = {"length": length, **{c: pd.to_numeric(preferences[c], errors="coerce").to_numpy(dtype=float)
                                   for c in STYLE_FEATURES[1:]}}
    names, style, scales = _features(values, comparisons)
    code = np.cumsum(compared) - 1
    n_kept = int(compared.sum())
    eye = np.eye(n_kept)
    arm_part = (eye[code[comparisons.first]] - eye[code[comparisons.second]])[:, :-1]
    X = np.column_stack([arm_part, *([np.ones(len(comparisons))] if position else []), style])
    cells = _Cells.of(comparisons.case, X, comparisons.outcome)
    if np.linalg.matrix_rank(cells.X) < X.shape[1]:
        # A feature the arms alone decide (Markdown in one arm's answers only, say) cannot be
        # told apart from the arms: no estimate of either would mean anything.
        return {**result, "arms_left_out": [a for a, c in zip(arms, compared) if not c],
                "style": _no_style(), "note": "the responses' style cannot be told apart from the arms (a feature that one arm's "
                        "answers alone show, or that is the same within each arm): no style-controlled scores"}
    fit = fit_logistic(cells.X, cells.n, cells.w)

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        beta = np.append(theta[..., :n_kept - 1], np.zeros((*theta.shape[:-1], 1)), axis=-1)
        beta -= beta.mean(axis=-1, keepdims=True)
        gamma = theta[..., n_kept - 1] if position else np.zeros(theta.shape[:-1])
        return beta, gamma, theta[..., n_kept - 1 + int(position):]

    beta, gamma, coef = unpack(fit.theta)
    strength = softmax(beta)
    result.update({"converged": fit.converged, "arms_left_out": [a for a, c in zip(arms, compared) if not c],
                   "log_strength": _spread(beta, compared), "strength": _spread(strength, compared),
                   "position_log_odds": float(gamma), "p_earlier_wins": float(expit(gamma))})
    if not fit.converged:
        result["note"] = ("the fit did not converge (an arm, or a difference in style, that always wins?): "
                          "no intervals")
    style_ci = {}
    if bootstrap is not None and bootstrap.n_boot and comparisons.case.size and (comparisons.case >= 0).all():
        thetas, ok = _resampled(comparisons, code, n_kept, cells, fit.theta, bootstrap, position)
        b_beta, b_gamma, b_coef = unpack(np.where(ok[:, None], thetas, np.nan))
        b_strength = softmax(b_beta, axis=1)
        result.update({"n_boot": bootstrap.n_boot, "n_boot_converged": int(ok.sum())})
        if fit.converged and ok.sum() < bootstrap.n_boot / 2:
            result["note"] = "most resamples' fits did not converge: no intervals"
        elif fit.converged:
            result.update({"log_strength_ci": _spread_ci(b_beta, compared, level),
                           "strength_ci": _spread_ci(b_strength, compared, level),
                           "position_log_odds_ci": [float(v) for v in percentile_ci(b_gamma, level)]})
            style_ci = dict(zip(names, np.stack(percentile_ci(b_coef, level), axis=1).tolist()))
    result["style"] = [{"feature": f, "coefficient": float(coef[names.index(f)]) if f in names else None,
                        "ci": style_ci.get(f, [None, None]),
                        "sd_of_difference": scales[names.index(f)] if f in names else None}
                       for f in STYLE_FEATURES]
    result.setdefault("log_strength_ci", [[None, None]] * n_arms)
    result.setdefault("strength_ci", [[None, None]] * n_arms)
    result.setdefault("position_log_odds_ci", [None, None])
    return result


class _Cells:
    """Comparisons of the same case with the same design row (the same two responses in
    the same order, ranked by several raters) pooled into one binomial cell: the same
    likelihood, resample by resample, over fewer rows."""

    def __init__(self, case: np.ndarray, X: np.ndarray, n: np.ndarray, w: np.ndarray) -> None:
        self.case, self.X, self.n, self.w = case, X, n, w

    @classmethod
    def of(cls, case: np.ndarray, X: np.ndarray, outcome: np.ndarray) -> _Cells:
        keys, inverse = np.unique(np.column_stack([case, X]), axis=0, return_inverse=True)
        inverse = inverse.ravel()
        return cls(keys[:, 0].astype(np.int64), np.ascontiguousarray(keys[:, 1:]), np.bincount(inverse).astype(float),
                   np.bincount(inverse, weights=outcome))


def _resampled(comparisons: Comparisons, code: np.ndarray, n_kept: int, cells: _Cells, theta: np.ndarray,
               bootstrap: CaseBootstrap, position: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each resample's fit (warm-started from the point estimate) and whether it counts:
    a resample whose arms alone are separated (as the plain fit leaves it out), or whose
    style separates it (checked where the fit predicts extreme odds), or whose fit did
    not converge, is left out."""
    kept = Comparisons(list(range(n_kept)), comparisons.case, comparisons.assignment, code[comparisons.first],
                       code[comparisons.second], comparisons.outcome, comparisons.n_rankings)
    n_case, w_case = comparison_cells(kept, bootstrap.n_cases)
    n_b = bootstrap.totals(as_rows(n_case))
    w_b = bootstrap.totals(as_rows(w_case))
    arms_separated = CellSeparation(n_kept, position)
    thetas = np.zeros((bootstrap.n_boot, theta.size))
    ok = np.zeros(bootstrap.n_boot, dtype=bool)
    for b in range(bootstrap.n_boot):
        if arms_separated(n_b[b], w_b[b]):
            continue
        weight = bootstrap.weights[b, cells.case].astype(float)
        n, w = weight * cells.n, weight * cells.w
        fit = fit_logistic(cells.X, n, w, start=theta, is_separated=False)
        drawn = n > 0
        extreme = np.abs(cells.X[drawn] @ fit.theta).max() > _EXTREME_LOG_ODDS
        thetas[b] = fit.theta
        ok[b] = fit.converged and not (extreme and separated(cells.X[drawn], n[drawn], w[drawn]))
    return thetas, ok


def _no_style() -> list[dict]:
    return [{"feature": f, "coefficient": None, "ci": [None, None], "sd_of_difference": None} for f in STYLE_FEATURES]


def _spread(values: np.ndarray, compared: np.ndarray) -> list:
    """Per-arm values of the compared arms back in every arm's place (None elsewhere)."""
    it = iter(np.asarray(values, dtype=float).tolist())
    return [next(it) if c else None for c in compared]


def _spread_ci(boot: np.ndarray, compared: np.ndarray, level: float) -> list:
    lo, hi = percentile_ci(boot, level)
    it = iter(np.stack([lo, hi], axis=1).tolist())
    return [next(it) if c else [None, None] for c in compared]
