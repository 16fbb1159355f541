"""Preferences from screens of k of a study's arms: a ranking of three responses gives
three pairwise comparisons, Bradley-Terry recovers the arms' order from a block plan,
and two arms never shown together are simply never compared."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from annotations.analysis.preferences import bradley_terry, pairwise_outcomes, ranking_comparisons
from annotations.services.blocks import block_orders, incomplete_blocks

ARMS = [f"arm{a}" for a in range(5)]


def _rankings(orders, strengths, seed):
    """Preference rows: each screen's responses ranked by a Plackett-Luce draw of the arms'
    strengths (Bradley-Terry's model for a ranking), slot by slot as shown."""
    rng = np.random.default_rng(seed)
    rows = []
    for screen, order in enumerate(orders):
        left, ranked = list(order), []
        while left:
            weights = np.array([strengths[a] for a in left])
            ranked.append(left.pop(rng.choice(len(left), p=weights / weights.sum())))
        for slot, arm in enumerate(order):
            rows.append({"assignment_id": screen, "case_id": screen // 2, "rater_id": screen % 2,
                         "arm": ARMS[arm], "slot": slot, "rank": ranked.index(arm) + 1})
    return pd.DataFrame(rows)


def test_bradley_terry_recovers_the_strength_order_from_a_three_of_five_block_plan():
    rng = random.Random(9)
    blocks = incomplete_blocks(5, 3, 200, rng)
    # Two raters per case, each with their own balanced slot orders.
    queues = {0: blocks, 1: blocks}
    orders = block_orders(queues, 3, rng)
    screens = [order for pair in zip(orders[0], orders[1]) for order in pair]
    strengths = [1.0, 1.6, 2.6, 4.2, 6.8]
    preferences = _rankings(screens, strengths, seed=4)
    fit = bradley_terry(preferences, arms=ARMS, n_boot=200, seed=1)
    assert fit["converged"] and fit["n_rankings"] == 400 and fit["n_comparisons"] == 400 * 3
    assert list(np.argsort(fit["log_strength"])) == [0, 1, 2, 3, 4]
    true = np.log(strengths) - np.log(strengths).mean()
    assert np.allclose(fit["log_strength"], true, atol=0.35)
    for (low, high), value in zip(fit["log_strength_ci"], true):
        assert low <= value <= high
    # The position term sees no advantage to the earlier slot: none was simulated.
    low, high = fit["p_earlier_wins_ci"]
    assert low < 0.5 < high


def test_arms_never_shown_together_are_never_compared():
    # Blocks of three of five arms, none with both arm0 and arm4.
    blocks = [b for b in incomplete_blocks(5, 3, 60, random.Random(2)) if not {0, 4} <= set(b)]
    orders = block_orders({0: blocks}, 3, random.Random(3))[0]
    preferences = _rankings(orders, [1.0, 1.5, 2.0, 2.5, 3.0], seed=6)
    comparisons = ranking_comparisons(preferences, ARMS)
    met = {frozenset((int(f), int(s))) for f, s in zip(comparisons.first, comparisons.second)}
    assert frozenset((0, 4)) not in met and len(met) == 9
    outcomes = pairwise_outcomes(comparisons)
    pair = next(p for p in outcomes["pairs"] if (p["arm_a"], p["arm_b"]) == ("arm0", "arm4"))
    assert pair["n"] == 0 and pair["wins_a"] == pair["ties"] == pair["wins_b"] == 0
    assert np.isnan(outcomes["win_matrix"]["score"][0][4]) and outcomes["win_matrix"]["n"][0][4] == 0
    # Bradley-Terry still places both, through the arms each met.
    fit = bradley_terry(preferences, arms=ARMS, n_boot=0)
    assert fit["converged"] and fit["arms_left_out"] == [] and None not in fit["log_strength"]
