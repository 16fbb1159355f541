import numpy as np

from bench.synthetic_study import synthetic_study


def test_shapes_balance_and_raters_per_case():
    s = synthetic_study(n_cases=120, n_raters=10, raters_per_case=2.5, seed=0)
    r, j, p = s["ratings"], s["judgments"], s["preferences"]
    n_assign = r["assignment_id"].nunique()
    assert n_assign == 300 and len(r) == n_assign * 3 * 4 and len(j) == len(p) == n_assign * 3
    per_case = r.groupby("case_id")["rater_id"].nunique()
    assert set(per_case) == {2, 3} and per_case.mean() == 2.5
    # No rater twice on a case; each arm equally often in each slot (balanced rotation).
    assert not r.drop_duplicates(["assignment_id"]).duplicated(["case_id", "rater_id"]).any()
    slot_counts = p.groupby(["arm", "slot"]).size()
    assert slot_counts.max() - slot_counts.min() <= 2
    # Ranks are competition ranks: 1 is always present, and ties share a rank.
    assert (p.groupby("assignment_id")["rank"].min() == 1).all()
    assert r["value"].between(1, 5).all() and set(j["value"]) == {"under", "appropriate", "over"}


def test_reproducible_and_arm_means_ordered():
    a = synthetic_study(n_cases=50, seed=1)
    b = synthetic_study(n_cases=50, seed=1)
    assert a["ratings"].equals(b["ratings"]) and a["preferences"].equals(b["preferences"])
    means = a["ratings"].groupby(["dimension", "arm"])["value"].mean()
    assert np.all(means["proactivity"]["BehaviorSFT"] > means["proactivity"]["Baseline"])
