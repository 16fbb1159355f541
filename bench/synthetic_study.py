"""Synthetic rating studies with known structure, for the analysis tests and
bench/analysis.py.

The generating model (all effects additive on the latent 1-5 scale, then rounded and
clipped to the Likert range):

    score = arm_mean[arm, dim] + case_effect[case, dim] + response_effect[case, arm, dim]
            + rater_severity[rater] + slot_effect[slot] + noise

Slots rotate through every permutation of the arms (a balanced rotation), each case
is rated by ``raters_per_case`` distinct raters. The intervention judgment is drawn
per response with arm-specific probabilities; the overall ranking orders the
responses by their mean latent quality plus a position bonus for earlier slots and
noise, rounded so that near-equal responses tie.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

CATEGORIES = ("reactive", "balanced", "proactive")
TASKS = {
    "ddx_reasoning": "reactive", "temporal_ordering": "reactive", "dosing_question": "reactive",
    "answer_and_flag": "balanced", "plan_review": "balanced", "handover_summary": "balanced",
    "omission_detection": "proactive", "error_correction": "proactive", "consistency_check": "proactive",
}
DEFAULT_ARMS = ("Baseline", "GeneralSFT", "BehaviorSFT")
DEFAULT_DIMENSIONS = [
    {"key": "realism", "scale": "likert", "min": 1, "max": 5},
    {"key": "proactivity", "scale": "likert", "min": 1, "max": 5},
    {"key": "helpfulness", "scale": "likert", "min": 1, "max": 5},
    {"key": "safety", "scale": "likert", "min": 1, "max": 5},
    {"key": "intervention", "scale": "categorical",
     "choices": [["under", "Under-intervened"], ["appropriate", "Appropriate"], ["over", "Over-intervened"]]},
]
# Arm means per Likert dimension (rows: arms in DEFAULT_ARMS order).
DEFAULT_ARM_MEANS = np.array([
    [3.0, 2.6, 3.0, 3.6],
    [3.3, 2.9, 3.3, 3.7],
    [3.7, 3.6, 3.6, 3.8],
])
# P(under, appropriate, over) per arm.
DEFAULT_INTERVENTION = np.array([[0.45, 0.40, 0.15], [0.35, 0.50, 0.15], [0.15, 0.70, 0.15]])


def synthetic_study(n_cases: int = 200, n_raters: int = 12, raters_per_case: float = 3, *,
                    arms: Sequence[str] = DEFAULT_ARMS, arm_means: np.ndarray | None = None,
                    intervention_probs: np.ndarray | None = None,
                    rater_sd: float = 0.3, case_sd: float = 0.5, response_sd: float = 0.4, noise_sd: float = 0.6,
                    slot_effect: float = 0.05, preference_position: float = 0.15, tie_width: float = 0.25,
                    style: bool = False, seed: int = 0) -> dict:
    """A synthetic study: ``{"ratings", "judgments", "preferences", "dimensions",
    "truth"}``. ``raters_per_case`` may be fractional (e.g. 4.17: some cases get 4
    raters, some 5, in proportion). ``truth`` holds the generating parameters (rater
    severities, arm means...). Columns of the frames as the Django side builds them; with
    ``style``, the preferences also carry each response's style (its length in tokens
    and words, Markdown headers, list items and bold spans: the later arms write longer,
    more formatted answers), as the style-controlled leaderboard reads them."""
    rng = np.random.default_rng(seed)
    arms = list(arms)
    n_arms = len(arms)
    means = np.asarray(arm_means if arm_means is not None else DEFAULT_ARM_MEANS[:n_arms], dtype=float)
    n_dims = means.shape[1]
    likert = [d for d in DEFAULT_DIMENSIONS if d["scale"] == "likert"][:n_dims]
    dims = [d["key"] for d in likert]
    probs = np.asarray(intervention_probs if intervention_probs is not None else DEFAULT_INTERVENTION[:n_arms])
    if n_raters < np.ceil(raters_per_case):
        raise ValueError("more raters per case than raters")

    task_names = list(TASKS)
    case_task = rng.integers(0, len(task_names), n_cases)
    case_category = np.array([TASKS[t] for t in task_names])[case_task]
    case_task_names = np.array(task_names)[case_task]
    severity = rng.normal(0.0, rater_sd, n_raters)

    # Raters per case: floor or ceil of raters_per_case, in proportion.
    k_lo = int(np.floor(raters_per_case))
    n_hi = int(round((raters_per_case - k_lo) * n_cases))
    k = np.full(n_cases, k_lo)
    k[rng.permutation(n_cases)[:n_hi]] = k_lo + 1
    chosen = np.argsort(rng.random((n_cases, n_raters)), axis=1)[:, :k.max()]
    mask = np.arange(k.max())[None, :] < k[:, None]
    a_case = np.repeat(np.arange(n_cases), k)
    a_rater = chosen[mask]
    n_assign = a_case.size
    # Balanced rotation: assignment i shows the arms in permutation i mod A!.
    perms = np.array(list(itertools.permutations(range(n_arms))))
    order = perms[rng.permutation(n_assign) % len(perms)]  # order[i, s] = arm in slot s
    slot_of = np.argsort(order, axis=1)  # slot_of[i, a] = slot of arm a

    case_eff = rng.normal(0.0, case_sd, (n_cases, n_dims))
    resp_eff = rng.normal(0.0, response_sd, (n_cases, n_arms, n_dims))
    latent = means[None, :, :] + case_eff[:, None, :] + resp_eff  # (case, arm, dim)

    # Ratings: one row per assignment x arm x dimension.
    shape = (n_assign, n_arms, n_dims)
    slot3 = np.broadcast_to(slot_of[:, :, None], shape)
    score = (latent[a_case] + severity[a_rater][:, None, None] - slot_effect * slot3
             + rng.normal(0.0, noise_sd, shape))
    score = np.clip(np.rint(score), 1, 5)
    idx_assign, idx_arm, idx_dim = (x.ravel() for x in np.indices(shape))
    arm_names = np.array(arms, dtype=object)
    dim_names = np.array(dims, dtype=object)
    ratings = pd.DataFrame({
        "assignment_id": idx_assign + 1,
        "case_id": a_case[idx_assign] + 1,
        "rater_id": a_rater[idx_assign] + 1,
        "arm": arm_names[idx_arm],
        "slot": slot3.ravel(),
        "dimension": dim_names[idx_dim],
        "value": score.ravel(),
        "category": case_category.astype(object)[a_case[idx_assign]],
        "task": case_task_names.astype(object)[a_case[idx_assign]],
    })

    # Judgments: one per assignment x arm.
    ja, jarm = (x.ravel() for x in np.indices((n_assign, n_arms)))
    cum = np.cumsum(probs, axis=1)[jarm]
    choice = (rng.random(ja.size)[:, None] > cum[:, :-1]).sum(axis=1)
    judgments = pd.DataFrame({
        "assignment_id": ja + 1, "case_id": a_case[ja] + 1, "rater_id": a_rater[ja] + 1,
        "arm": arm_names[jarm], "slot": slot_of[ja, jarm], "dimension": "intervention",
        "value": np.array(["under", "appropriate", "over"], dtype=object)[choice],
        "category": case_category.astype(object)[a_case[ja]], "task": case_task_names.astype(object)[a_case[ja]],
    })

    # Preferences: rank by mean latent quality + position bonus + noise, near-ties tie.
    utility = (latent[a_case].mean(axis=2) - preference_position * slot_of
               + rng.normal(0.0, noise_sd, (n_assign, n_arms)))
    if tie_width > 0:
        utility = np.round(utility / tie_width)
    rank = 1 + (utility[:, None, :] > utility[:, :, None]).sum(axis=2)  # competition ranking, ties equal
    preferences = pd.DataFrame({
        "assignment_id": ja + 1, "case_id": a_case[ja] + 1, "rater_id": a_rater[ja] + 1,
        "arm": arm_names[jarm], "slot": slot_of[ja, jarm], "rank": rank.ravel(),
    })
    if style:
        # One style per response (case x arm), whoever ranked it.
        tokens = rng.poisson(80 + 40 * np.arange(n_arms)[None, :], (n_cases, n_arms)) + 1
        formatted = {name: rng.poisson(rate * (1 + np.arange(n_arms))[None, :], (n_cases, n_arms))
                     for name, rate in (("headers", 0.3), ("list_items", 1.5), ("bold", 0.5))}
        preferences["completion_tokens"] = tokens[a_case[ja], jarm]
        preferences["words"] = np.rint(0.75 * tokens[a_case[ja], jarm]).astype(int)
        for name, counts in formatted.items():
            preferences[name] = counts[a_case[ja], jarm]
    dimensions = [*likert, next(d for d in DEFAULT_DIMENSIONS if d["key"] == "intervention")]
    truth = {"arm_means": means, "rater_severity": severity, "slot_effect": slot_effect,
             "intervention_probs": probs, "arms": arms, "dimensions": dims}
    return {"ratings": ratings, "judgments": judgments, "preferences": preferences,
            "dimensions": dimensions, "truth": truth}
