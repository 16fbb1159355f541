from annotations.analysis.gold import gold_agreement


def test_agreement_with_expected_values_and_orders():
    values = [
        {"rater": "a", "case": 1, "scale": "likert", "given": 4, "expected": 4},
        {"rater": "a", "case": 1, "scale": "likert", "given": 2, "expected": 4},
        {"rater": "a", "case": 1, "scale": "categorical", "given": "over", "expected": "appropriate"},
        {"rater": "b", "case": 1, "scale": "likert", "given": 5, "expected": 4},
    ]
    rankings = [
        # expected x < y < z; a reproduces x<y and x<z, swaps y,z: 2 of 3 pairs
        {"rater": "a", "case": 1, "given": {"x": 1, "y": 3, "z": 2}, "expected": {"x": 1, "y": 2, "z": 3}},
        # b ties x and y (half), gets the rest
        {"rater": "b", "case": 1, "given": {"x": 1, "y": 1, "z": 2}, "expected": {"x": 1, "y": 2, "z": 3}},
    ]
    a, b = gold_agreement(values, rankings)
    assert a["rater"] == "a" and a["gold_cases"] == 1
    assert (a["likert_n"], a["likert_exact"], a["likert_within_one"], a["likert_mae"]) == (2, 0.5, 0.5, 1.0)
    assert (a["categorical_n"], a["categorical_agree"]) == (1, 0.0)
    assert a["rank_pairs"] == 3 and abs(a["rank_agree"] - 2 / 3) < 1e-12
    assert (b["likert_exact"], b["likert_within_one"]) == (0.0, 1.0)
    assert b["categorical_agree"] is None and abs(b["rank_agree"] - 2.5 / 3) < 1e-12


def test_an_expected_tie_is_not_a_pair_to_reproduce():
    [row] = gold_agreement([], [{"rater": "a", "case": 1, "given": {"x": 2, "y": 1},
                                 "expected": {"x": 1, "y": 1}}])
    assert row["rank_pairs"] == 0 and row["rank_agree"] is None
