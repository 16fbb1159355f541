"""The demo's generated training cases: seeded, valid, minimal pairs, balanced letters,
stratified splits, and apart from the hand-written test cases."""

from __future__ import annotations

import json
from collections import Counter

from modeling import synthetic
from modeling.cases import parse_cases
from modeling.metrics import score_responses
from modeling.task_types import DEFAULT_TASKS


def test_generator_is_seeded_valid_and_balanced(tmp_path):
    cases = synthetic.generate(seed=0)
    assert cases == synthetic.generate(seed=0)
    parse_cases("".join(json.dumps(c) + "\n" for c in cases).encode())  # the case format holds
    train = [c for c in cases if c["split"] == "train"]
    assert len(train) >= 150 and {c["split"] for c in cases} == {"train", "dev"}
    labels = Counter((c["task"], c["gold_label"]) for c in train)
    for name, task in DEFAULT_TASKS.items():
        counts = [labels[(name, label)] for label in task.label_space]
        assert min(counts) >= 1 and max(counts) - min(counts) <= 2, (name, counts)
    ids = {c["external_id"] for c in cases}
    for case in cases:
        if case["gold_label"] == "flag":
            assert case["planted_problem"]["terms"]
            twin = case["external_id"].replace("-planted", "-sound")
            assert twin in ids and next(c for c in cases if c["external_id"] == twin)["split"] == case["split"]
        assert case["external_id"].startswith("syn-")
    # The reference responses score perfectly: the templates and the scorer agree.
    scores = score_responses([{**c, "text": c["reference_response"]} for c in cases])
    assert scores["overall"]["macro_f1"] == 1.0 and scores["proactive"]["issue_found_rate"] == 1.0
    assert scores["balanced"]["concern_found_rate"] == 1.0


def test_the_shipped_file_is_the_generator_output(tmp_path):
    from tests.modeling.conftest import REPO

    out = tmp_path / "train.jsonl"
    assert synthetic.main(["--out", str(out), "--seed", "0"]) == 0
    assert out.read_text() == (REPO / "annotations" / "demo" / "train_cases.jsonl").read_text()
