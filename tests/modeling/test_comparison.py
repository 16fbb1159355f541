"""Arm comparisons: cluster-bootstrap CIs over cases (exact by pattern counts) and paired
differences, in the library and in `python -m modeling.evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modeling import evaluate
from modeling.comparison import PatternCounts, compare_arms, default_pairs
from modeling.metrics import score_responses
from modeling.task_types import DEFAULT_TASKS


def _rows(arm, texts, cases):
    return [{**c, "arm": arm, "text": t} for c, t in zip(cases, texts)]


def _cases(n):
    cases = []
    for i in range(n):
        cases.append({"external_id": f"p{i}", "task": "omission_detection", "gold_label": "flag",
                      "planted_problem": {"terms": [f"thing{i}"]}, "label_space": ["flag", "no_flag"]})
        cases.append({"external_id": f"s{i}", "task": "omission_detection", "gold_label": "no_flag",
                      "label_space": ["flag", "no_flag"]})
    return cases


def test_point_estimates_equal_the_scores_and_differences_are_paired():
    cases = _cases(20)
    good = [f"Raise thing{i}." if c["gold_label"] == "flag" else "" for i, c in
            ((int(c["external_id"][1:]), c) for c in cases)]
    rows = _rows("behavior_sft", good, cases) + _rows("general_sft", [""] * len(cases), cases) + \
        _rows("baseline", ["I want to flag a concern."] * len(cases), cases)
    result = evaluate.evaluate_with_comparison(rows, n_boot=500, seed=1)
    comparison = result["comparison"]
    for arm in ("behavior_sft", "general_sft", "baseline"):
        assert comparison["arms"][arm]["macro_f1"] == pytest.approx(result["arms"][arm]["overall"]["macro_f1"])
    assert comparison["arms"]["behavior_sft"]["ci"] == [1.0, 1.0]
    lo, hi = comparison["arms"]["general_sft"]["ci"]
    assert lo <= 1 / 3 <= hi
    first = comparison["differences"][0]
    assert (first["arm"], first["minus"], first["scope"]) == ("behavior_sft", "general_sft", "overall")
    assert first["difference"] == pytest.approx(2 / 3) and first["ci"][0] > 0 and first["p_not_above_zero"] == 0
    assert {(d["arm"], d["minus"]) for d in comparison["differences"]} >= {("general_sft", "baseline"),
                                                                           ("behavior_sft", "baseline")}
    assert comparison["resamples_missing_a_task"] == 0 and comparison["warning"] == ""


def test_the_multinomial_draw_is_the_case_bootstrap():
    """Resampling patterns by a multinomial gives the distribution a case-level resample gives."""
    rng = np.random.default_rng(3)
    cases = _cases(15)
    texts = [rng.choice([f"thing{c['external_id'][1:]}", "", "Something else."]) for c in cases]
    patterns = PatternCounts(["a"])
    for c, t in zip(cases, texts):
        scored = score_responses([{**c, "text": t}])["predictions"][0]
        patterns.add_case(c["task"], c["gold_label"], {"a": scored["predicted_label"]})
    ours = compare_arms(patterns, DEFAULT_TASKS, n_boot=4000, seed=0)["arms"]["a"]["ci"]
    case_level = []
    for _ in range(4000):
        picked = rng.integers(0, len(cases), len(cases))
        case_level.append(score_responses([{**cases[i], "text": texts[i]} for i in picked],
                                          keep_predictions=False)["overall"]["macro_f1"])
    expected = np.quantile(case_level, [0.025, 0.975])
    assert ours == pytest.approx(list(expected), abs=0.05)


def test_edge_cases_are_reported():
    one = PatternCounts(["a"])
    one.add_case("omission_detection", "flag", {"a": "flag"})
    result = compare_arms(one, DEFAULT_TASKS, n_boot=50)
    assert "zero width" in result["warning"]
    empty = compare_arms(PatternCounts(["a"]), DEFAULT_TASKS)
    assert empty["arms"] == {} and empty["warning"] == "no cases to compare"
    # a small task is absent from some resamples: counted and said
    mixed = PatternCounts(["a"])
    for _ in range(40):
        mixed.add_case("omission_detection", "flag", {"a": "flag"})
    mixed.add_case("ddx_reasoning", "A", {"a": "A"})
    result = compare_arms(mixed, DEFAULT_TASKS, n_boot=200)
    assert 0 < result["resamples_missing_a_task"] < 200
    assert default_pairs(["Baseline", "FewShot"]) == [("FewShot", "Baseline")]


def test_evaluate_cli_prints_the_comparison(tmp_path, capsys):
    cases = _cases(5)
    rows = _rows("behavior_sft", [""] * 10, cases) + _rows("general_sft", ["Nothing to add."] * 10, cases)
    path = tmp_path / "responses.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scores.json"
    assert evaluate.main([str(path), "--n-boot", "200", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cluster-bootstrap CIs over 10 cases" in printed and "behavior_sft - general_sft" in printed
    assert "only 10 cases" in printed
    assert json.loads(out.read_text())["comparison"]["n_boot"] == 200
    with pytest.raises(SystemExit):
        evaluate.main([str(path), "--n-boot", "-1"])


def test_reference_arms_need_the_cases_and_are_scored_beside_the_real_ones(tmp_path, capsys):
    from modeling.reference_arms import REFERENCE_ARMS

    cases = [{"external_id": "c1", "task": "omission_detection", "category": "proactive",
              "turns": [{"speaker": "A", "role": "nurse", "text": "t"}], "question": None,
              "gold_behavior": "proactive", "label_space": ["flag", "no_flag"], "gold_label": "flag",
              "reference_response": "Give anti-D.", "planted_problem": {"terms": ["anti-D"]}}]
    data = tmp_path / "cases.jsonl"
    data.write_text(json.dumps(cases[0]) + "\n")
    responses = tmp_path / "responses.jsonl"
    responses.write_text(json.dumps({"external_id": "c1", "arm": "baseline", "text": ""}) + "\n")
    with pytest.raises(SystemExit):
        evaluate.main([str(responses), "--reference-arms"])
    assert evaluate.main([str(responses), "--data", str(data), "--reference-arms", "--n-boot", "20"]) == 0
    printed = capsys.readouterr().out
    assert all(f"== {arm}: 1 responses ==" in printed for arm in REFERENCE_ARMS)


def test_an_unreadable_response_is_answered_and_wrong_not_missing():
    patterns = PatternCounts(["a", "b"])
    patterns.add_case("ddx_reasoning", "A", {"a": None, "b": "A"})  # a: unreadable
    patterns.add_case("ddx_reasoning", "B", {"b": "B"})              # a: no response
    result = compare_arms(patterns, DEFAULT_TASKS, n_boot=20)
    # a answered one case and got it wrong: 0; b: A and B right, C and D without support: 0.5
    assert result["arms"]["a"]["macro_f1"] == 0.0 and result["arms"]["b"]["macro_f1"] == 0.5
