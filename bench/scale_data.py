"""The data of bench/scale.py: a BehaviorBench-sized case file (150,000 cases, 13 task
types, about 2.2 KB a line) built from the demo cases with new ids, and the four task
types the demo registry lacks, declared as a study declares its own."""

from __future__ import annotations

import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_CASES = ROOT / "annotations" / "demo" / "cases.jsonl"

# With the nine built-in types, the 13 task types of a BehaviorBench-sized study.
EXTRA_TASKS = [
    {"name": "medication_reconciliation", "category": "proactive", "label_space": ["flag", "no_flag"],
     "extractor": "flag", "description": "Notice a drug missing from or wrong in a reconciled list."},
    {"name": "guideline_adherence", "category": "proactive", "label_space": ["flag", "no_flag"],
     "extractor": "flag", "description": "Notice a plan that departs from a guideline without a reason."},
    {"name": "lab_interpretation", "category": "reactive", "label_space": ["A", "B", "C", "D"],
     "extractor": "option", "description": "Answer a question about a set of laboratory results."},
    {"name": "handoff_planning", "category": "balanced", "label_space": ["A", "B", "C", "D"],
     "extractor": "option", "description": "Answer the handoff question and raise what the next team needs."},
]


def build_case_file(path: Path, n_cases: int, *, seed: int = 7) -> Path:
    """Write ``n_cases`` test cases to ``path`` (kept when it already has that many)."""
    if path.exists() and sum(1 for _ in path.open("rb")) == n_cases:
        return path
    templates = [json.loads(line) for line in DEMO_CASES.read_text().splitlines() if line.strip()]
    by_category: dict[str, list[dict]] = {}
    flag_templates: dict[str, list[dict]] = {}  # proactive templates by gold label: planted or sound
    for case in templates:
        by_category.setdefault(case["category"], []).append(case)
        if case["label_space"] == ["flag", "no_flag"]:
            flag_templates.setdefault(case["gold_label"], []).append(case)
    from modeling.task_types import DEFAULT_TASKS

    tasks = [(t.name, t.category) for t in DEFAULT_TASKS.values()] + [(t["name"], t["category"]) for t in EXTRA_TASKS]
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for i in range(n_cases):
            task, category = tasks[i % len(tasks)]
            if category == "proactive":  # a planted case's problem, or a sound case's absence of one, kept
                case = dict(rng.choice(flag_templates[rng.choice(["flag", "no_flag"])]))
            else:
                case = dict(rng.choice(by_category[category]))
                case["gold_label"] = "ABCD"[rng.randrange(4)]
            case.update(external_id=f"bb-{i:06d}", task=task, category=category, split="test")
            case["metadata"] = {"source": "bench/scale.py", "seq": i, "padding": "x" * rng.randrange(0, 200)}
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
