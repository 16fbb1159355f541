"""``python -m modeling.evaluate responses.jsonl [--data cases.jsonl]``: BehaviorBench
Macro F1 per task, per category and overall, and behavior selection accuracy, for each
arm found in a responses file written by ``python -m modeling.generate``.

The gold fields are read from the responses file itself (generate copies them there);
``--data`` takes them from the case file instead, matched by external_id.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from modeling.metrics import format_report, score_responses
from modeling.task_types import DEFAULT_TASKS, TASKS_FILE_HELP, TaskType, registry_from_file

GOLD_FIELDS = ("task", "category", "gold_label", "gold_behavior", "label_space", "question", "planted_problem")


def read_responses(path: str | Path) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
    return rows


def join_gold(rows: Iterable[Mapping], cases: Iterable[Mapping]) -> list[dict]:
    """Rows with their gold fields taken from ``cases`` (by external_id)."""
    by_id = {c["external_id"]: c for c in cases}
    joined = []
    for row in rows:
        case = by_id.get(row.get("external_id"))
        if case is None:
            raise ValueError(f"response for {row.get('external_id')!r} has no case in the case file")
        joined.append({**row, **{f: case.get(f) for f in GOLD_FIELDS}})
    return joined


def evaluate(rows: Iterable[Mapping], registry: Mapping[str, TaskType] = DEFAULT_TASKS) -> dict[str, dict]:
    """Scores per arm (rows without an arm are grouped as "responses")."""
    by_arm: dict[str, list[Mapping]] = defaultdict(list)
    for row in rows:
        by_arm[row.get("arm") or "responses"].append(row)
    return {arm: score_responses(arm_rows, registry) for arm, arm_rows in by_arm.items()}


def main(argv: Sequence[str] | None = None) -> int:
    from modeling.cases import read_cases

    parser = argparse.ArgumentParser(prog="python -m modeling.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("responses", help="responses.jsonl written by python -m modeling.generate")
    parser.add_argument("--data", help="cases.jsonl to take the gold labels from")
    parser.add_argument("--tasks", help=TASKS_FILE_HELP)
    parser.add_argument("--json", help="also write the scores (with per-response predictions) to this file")
    args = parser.parse_args(argv)

    try:
        registry = registry_from_file(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    rows = read_responses(args.responses)
    if not rows:
        parser.error(f"{args.responses} holds no responses")
    if args.data:
        rows = join_gold(rows, read_cases(args.data, registry))
    results = evaluate(rows, registry)
    for arm, scores in results.items():
        print(format_report(scores, title=f"== {arm}: {scores['n']} responses =="))
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
