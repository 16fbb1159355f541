"""The command lines a researcher runs: generate writes resumable responses.jsonl rows,
evaluate prints Macro F1 per task, per category, overall and behavior accuracy."""

from __future__ import annotations

import json

import pytest

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS
from tests.modeling.conftest import DEMO_CASES


@pytest.mark.modeling
def test_generate_then_evaluate(demo, tmp_path, capsys):
    from modeling import evaluate, generate

    out = tmp_path / "responses.jsonl"
    args = ["--base", "demo", "--arm", "baseline", "--data", str(DEMO_CASES), "--out", str(out),
            "--limit", "3", "--max-new-tokens", "4", "--device", "cpu"]
    assert generate.main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    test_ids = [json.loads(line)["external_id"] for line in DEMO_CASES.read_text().splitlines()
                if json.loads(line)["split"] == "test"][:3]
    assert sorted(r["external_id"] for r in rows) == sorted(test_ids)
    for row in rows:
        assert row["arm"] == "baseline"
        assert {"text", "raw_text", "predicted_behavior", "prompt_tokens", "completion_tokens", "latency_s",
                "gold_label", "gold_behavior", "task", "category"} <= set(row)
        assert not DEFAULT_BEHAVIOR_TOKENS.contains_any(row["text"])
        provenance = row["provenance"]
        assert provenance["base_hash"] and provenance["adapter_hash"] is None
        assert provenance["decoding"]["strategy"] == "greedy" and provenance["decoding"]["max_new_tokens"] == 4

    # A second run resumes: nothing left to do, nothing duplicated.
    assert generate.main(args) == 0
    assert len(out.read_text().splitlines()) == 3

    capsys.readouterr()
    scores_file = tmp_path / "scores.json"
    assert evaluate.main([str(out), "--data", str(DEMO_CASES), "--json", str(scores_file)]) == 0
    printed = capsys.readouterr().out
    assert "== baseline: 3 responses ==" in printed
    assert "overall (mean of tasks)" in printed and "behavior selection accuracy" in printed
    scores = json.loads(scores_file.read_text())
    assert scores["arms"]["baseline"]["n"] == 3


def test_evaluate_without_a_model(tmp_path, capsys):
    from modeling import evaluate

    rows = [
        {"external_id": "a", "arm": "behavior_sft", "task": "error_correction", "category": "proactive",
         "gold_label": "flag", "gold_behavior": "proactive", "text": "The dose is wrong.",
         "predicted_behavior": "proactive"},
        {"external_id": "b", "arm": "behavior_sft", "task": "ddx_reasoning", "category": "reactive",
         "gold_label": "B", "gold_behavior": "reactive", "text": "B.", "predicted_behavior": "balanced"},
        {"external_id": "a", "arm": "baseline", "task": "error_correction", "category": "proactive",
         "gold_label": "flag", "gold_behavior": "proactive", "text": "", "predicted_behavior": None},
    ]
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert evaluate.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "== behavior_sft: 2 responses ==" in out and "== baseline: 1 responses ==" in out
    assert "behavior selection accuracy: 0.500" in out
    assert "n/a (no behavior token in 1 responses)" in out
    results = evaluate.evaluate(rows)
    # both right; the fixed label spaces leave no_flag and A, C, D without support: (0.5 + 0.25) / 2
    assert results["behavior_sft"]["overall"]["macro_f1"] == 0.375
    assert results["baseline"]["overall"]["macro_f1"] == 0.0  # silence on an error: missed

    with pytest.raises(ValueError, match="no case"):
        evaluate.join_gold(rows, [])


def test_the_command_lines_take_a_studys_own_task_types_from_a_file(tmp_path, capsys):
    from modeling import evaluate

    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([{"name": "lab_interpretation", "category": "reactive",
                                  "label_space": ["A", "B", "C", "D"], "extractor": "option"}]))
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({
        "external_id": "lab-1", "task": "lab_interpretation", "category": "reactive", "split": "test",
        "turns": [{"speaker": "Dr. A", "role": "attending", "text": "Sodium 128: why?"}], "question": "A or B?",
        "gold_behavior": "reactive", "label_space": ["A", "B"], "gold_label": "B"}) + "\n")
    responses = tmp_path / "responses.jsonl"
    responses.write_text(json.dumps({"external_id": "lab-1", "arm": "baseline", "text": "B, SIADH.",
                                     "predicted_behavior": None}) + "\n")
    with pytest.raises(Exception, match="unknown task 'lab_interpretation'"):
        evaluate.main([str(responses), "--data", str(cases)])
    capsys.readouterr()
    assert evaluate.main([str(responses), "--data", str(cases), "--tasks", str(tasks)]) == 0
    assert "lab_interpretation" in capsys.readouterr().out
    tasks.write_text("[{\"name\": 3}]")
    with pytest.raises(SystemExit):
        evaluate.main([str(responses), "--data", str(cases), "--tasks", str(tasks)])
    assert "not a task type list" in capsys.readouterr().err
