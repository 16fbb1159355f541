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


def test_with_style_each_response_has_one_style_the_style_controlled_fit_reads():
    """The analysis benchmark measures the style-controlled leaderboard only if its
    rankings carry the responses' style."""
    from annotations.analysis.style_control import STYLE_COLUMNS
    from annotations.analysis.summary import summarize_study

    s = synthetic_study(n_cases=60, n_raters=9, raters_per_case=3, style=True, seed=4)
    p = s["preferences"]
    assert set(STYLE_COLUMNS) <= set(p.columns)
    per_response = p.groupby(["case_id", "arm"])[list(STYLE_COLUMNS)].nunique()
    assert (per_response == 1).all().all()  # whoever ranked it, a response looks the same
    tokens = p.groupby("arm")["completion_tokens"].mean()
    assert tokens["Baseline"] < tokens["GeneralSFT"] < tokens["BehaviorSFT"]  # the later arms write longer
    fitted = summarize_study(s["ratings"], s["judgments"], p, s["dimensions"], n_boot=20)
    assert fitted["preferences"]["style_controlled"]["available"]
    assert not set(STYLE_COLUMNS) & set(synthetic_study(n_cases=10, seed=4)["preferences"].columns)
