"""bench/scale_data.py's case file is what the importer accepts: the scale benchmark
measures an import that succeeds, not one refused at the first line."""

from bench.scale_data import EXTRA_TASKS, build_case_file
from modeling.cases import read_cases
from modeling.task_types import build_registry


def test_the_scale_case_file_is_valid_and_keeps_planted_and_sound_cases_apart(tmp_path):
    registry = build_registry(EXTRA_TASKS)
    cases = read_cases(build_case_file(tmp_path / "cases.jsonl", 260), registry)  # raises on a refused line
    assert len(cases) == 260 and {c["task"] for c in cases} == set(registry)
    flag_cases = [c for c in cases if c["label_space"] == ["flag", "no_flag"]]
    assert {c["gold_label"] for c in flag_cases} == {"flag", "no_flag"}
    assert all(not c.get("planted_problem") for c in flag_cases if c["gold_label"] == "no_flag")
    assert any(c.get("planted_problem") for c in flag_cases if c["gold_label"] == "flag")
