"""Position-swap consistency of an LLM judge in pairwise comparisons: whether it prefers
the same response when the two are shown the other way round, and how often it goes
with the one shown first. Counted as the judge's command line counts it
(:func:`modeling.judge.scoring.swap_consistency`). Pure functions over pandas frames;
no Django import.

Frame (long format):

- ``comparisons``: case_id, arm_a, arm_b, prob_a_first, prob_a_second (the judge's
  probability of preferring response a when a is shown first / second).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from annotations.analysis._common import is_empty, require_columns, sort_labels, wilson_ci
from modeling.judge.scoring import is_consistent, swap_consistency


def pairwise_consistency(comparisons: pd.DataFrame | None, *, arms: Sequence | None = None,
                         level: float = 0.95) -> dict | None:
    """Position-swap consistency of the judge: the share of decided pairs (a preference
    in both orders) on which it prefers the same response both ways, as
    :func:`modeling.judge.scoring.swap_consistency` counts it (Wilson CI); the share of
    its decisions that went to the response shown first (0.5 without position bias;
    binomial test); and per arm pair, the judge's mean preference for the first arm
    (averaged over both orders) and its consistency there."""
    if is_empty(comparisons):
        return None
    require_columns(comparisons, ("arm_a", "arm_b", "prob_a_first", "prob_a_second"), "comparisons")
    p1 = pd.to_numeric(comparisons["prob_a_first"], errors="coerce").to_numpy(float)
    p2 = pd.to_numeric(comparisons["prob_a_second"], errors="coerce").to_numpy(float)
    # Consistency as the judge CLI reports it: over the decided pairs (a preference in both orders).
    swaps = swap_consistency(zip(p1, p2))
    verdicts = [is_consistent(a, b) for a, b in zip(p1, p2)]
    n_pairs, n_decided = swaps["n"], swaps["decided"]
    first_chosen, n_decisions = swaps["first_chosen"], 2 * n_decided
    c_lo, c_hi = wilson_ci(swaps["consistent"], n_decided, level)
    f_lo, f_hi = wilson_ci(first_chosen, n_decisions, level)
    p_value = float(stats.binomtest(first_chosen, n_decisions, 0.5).pvalue) if n_decisions else None
    arms = list(arms) if arms is not None else sort_labels(set(comparisons["arm_a"]) | set(comparisons["arm_b"]))
    rank = {arm: i for i, arm in enumerate(arms)}
    per_pair: dict[tuple, dict] = {}
    for a, b, q1, q2, ok in zip(comparisons["arm_a"], comparisons["arm_b"], p1, p2, verdicts):
        if rank.get(a, len(rank)) > rank.get(b, len(rank)):
            a, b, q1, q2 = b, a, 1.0 - q1, 1.0 - q2
        entry = per_pair.setdefault((a, b), {"arm_a": a, "arm_b": b, "n": 0, "prob": [], "consistent": 0,
                                             "decided": 0, "wins_a": 0, "wins_b": 0, "swaps": []})
        entry["n"] += 1
        values = [v for v in (q1, q2) if np.isfinite(v)]
        if values:
            entry["prob"].append(float(np.mean(values)))
        entry["swaps"].append((q1, q2))
        if ok:
            entry["wins_a" if q1 > 0.5 else "wins_b"] += 1
    pairs = []
    for entry in sorted(per_pair.values(), key=lambda e: (rank.get(e["arm_a"], 99), rank.get(e["arm_b"], 99))):
        probs = entry.pop("prob")
        pair_swaps = swap_consistency(entry.pop("swaps"))
        entry["decided"], entry["consistent"] = pair_swaps["decided"], pair_swaps["consistent"]
        entry["mean_prob_a"] = float(np.mean(probs)) if probs else None
        entry["consistency"] = pair_swaps["consistency"]
        pairs.append(entry)
    return {"n_pairs": n_pairs, "n_decided": n_decided, "n_consistent": swaps["consistent"],
            "consistency": swaps["consistency"],
            "consistency_ci": [c_lo, c_hi], "first_position_rate": swaps["first_position_rate"],
            "first_position_ci": [f_lo, f_hi], "first_position_p": p_value, "pairs": pairs, "level": level}
