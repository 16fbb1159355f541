"""Position-swap consistency has one definition, consistent pairs over decided pairs,
whoever computes it: the judge CLI's summary, a PairResult, the portal's analysis."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from annotations.analysis.judge_consistency import pairwise_consistency
from modeling.judge import PairResult, is_consistent, summarize, swap_consistency

# (prob_a_first, prob_a_second): P(the judge prefers response a) with a shown first / second
PAIRS = [
    (0.8, 0.7),  # prefers a both ways: consistent
    (0.9, 0.2),  # prefers whichever is shown first: inconsistent
    (0.3, 0.1),  # prefers b both ways: consistent
    (0.5, 0.8),  # a tie in the first order: undecided
    (None, 0.3),  # no answer in the first order: undecided
]


def _result(i: int, first: float | None, second: float | None) -> PairResult:
    return PairResult(key=f"c{i}|baseline|behavior_sft", dimension="overall", prob_a_first=first,
                      prob_a_second=second, method="logits", prompt={}, raw_output={}, model="m")


def test_is_consistent_and_swap_consistency():
    assert [is_consistent(a, b) for a, b in PAIRS] == [True, False, True, None, None]
    assert is_consistent(math.nan, 0.9) is None and is_consistent(0.6, 0.5) is None
    # first-shown choices of the decided pairs: (a, -), (a, b), (-, b): 4 of 6 decisions
    assert swap_consistency(PAIRS) == {"n": 5, "decided": 3, "consistent": 2, "consistency": 2 / 3,
                                       "first_chosen": 4, "first_position_rate": 4 / 6}
    none = {"consistent": 0, "consistency": None, "first_chosen": 0, "first_position_rate": None}
    assert swap_consistency([(0.5, 0.5)]) == {"n": 1, "decided": 0, **none}
    assert swap_consistency([]) == {"n": 0, "decided": 0, **none}


def test_cli_summary_and_portal_analysis_agree_on_consistency():
    results = [_result(i, a, b) for i, (a, b) in enumerate(PAIRS)]
    assert [r.consistent for r in results] == [True, False, True, None, None]

    # what `python -m modeling.judge --pairwise` writes to judged.jsonl and summarizes
    rows = [{"type": "pairwise", "external_id": f"c{i}", "arm_a": "baseline", "arm_b": "behavior_sft",
             **r.as_dict()} for i, r in enumerate(results)]
    cli = summarize(rows)["pairwise"]

    # what the portal's judge page computes from the stored comparisons
    frame = pd.DataFrame([{"case_id": row["external_id"], "arm_a": row["arm_a"], "arm_b": row["arm_b"],
                           "prob_a_first": row["prob_a_first"], "prob_a_second": row["prob_a_second"]}
                          for row in rows])
    portal = pairwise_consistency(frame)

    assert cli["n"] == portal["n_pairs"] == 5
    assert portal["n_decided"] == 3 and portal["n_consistent"] == 2
    assert cli["consistency"] == pytest.approx(2 / 3)
    assert cli["consistency"] == pytest.approx(portal["consistency"])
    # the share of decisions going to the response shown first, over the same decided pairs
    assert cli["first_position_rate"] == pytest.approx(portal["first_position_rate"]) == pytest.approx(4 / 6)
    [pair] = portal["pairs"]
    assert pair["consistency"] == pytest.approx(cli["consistency"])
