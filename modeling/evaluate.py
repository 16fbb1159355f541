"""``python -m modeling.evaluate responses.jsonl [--data cases.jsonl]``: BehaviorBench
Macro F1 per task, per category and overall, the proactive measures (flag rate, issue
found, restraint, over-intervention), both halves of balanced tasks and behavior
selection, for each arm found in a responses file written by ``python -m
modeling.generate``; then the arms compared: Macro F1 with cluster-bootstrap CIs over
cases, and the paired differences BehaviorSFT - GeneralSFT and each arm - Baseline.

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

from modeling.comparison import PatternCounts, compare_arms, format_comparison
from modeling.metrics import ScoreAccumulator, format_report
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
    return evaluate_with_comparison(rows, registry, n_boot=0)["arms"]


def evaluate_with_comparison(rows: Iterable[Mapping], registry: Mapping[str, TaskType] = DEFAULT_TASKS, *,
                             n_boot: int = 2000, seed: int = 0) -> dict:
    """``{"arms": {arm: scores}, "comparison": compare_arms(...) or None}``; the
    comparison pairs each arm's response to a case by the case's external_id."""
    accumulators: dict[str, ScoreAccumulator] = {}
    labels: dict[str, dict[str, str | None]] = defaultdict(dict)
    gold: dict[str, tuple[str, str]] = {}
    for row in rows:
        arm = row.get("arm") or "responses"
        accumulator = accumulators.setdefault(arm, ScoreAccumulator(registry, keep_predictions=True))
        scored = accumulator.add(row)
        key = row.get("external_id")
        if key is not None:
            labels[key][arm] = scored["predicted_label"]
            gold[key] = (row["task"], row["gold_label"])
    arms = {arm: acc.result() for arm, acc in accumulators.items()}
    comparison = None
    if n_boot > 0 and gold:
        patterns = PatternCounts(list(arms))
        for key, (task, gold_label) in gold.items():
            patterns.add_case(task, gold_label, labels[key])
        comparison = compare_arms(patterns, registry, n_boot=n_boot, seed=seed)
    return {"arms": arms, "comparison": comparison}


def main(argv: Sequence[str] | None = None) -> int:
    from modeling.cases import read_cases

    parser = argparse.ArgumentParser(prog="python -m modeling.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("responses", help="responses.jsonl written by python -m modeling.generate")
    parser.add_argument("--data", help="cases.jsonl to take the gold labels from")
    parser.add_argument("--tasks", help=TASKS_FILE_HELP)
    parser.add_argument("--json", help="also write the scores (with per-response predictions) to this file")
    parser.add_argument("--reference-arms", action="store_true",
                        help="also score rule-written arms (always flag, always silent, one letter and flag everything, "
                             "a random label, the reference response) on the same cases, to show the floor and ceiling")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the CIs (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
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
    if args.reference_arms:
        from modeling.reference_arms import reference_arm_rows

        if not args.data:
            parser.error("--reference-arms needs --data (the cases' reference responses)")
        answered = {row.get("external_id") for row in rows}
        rows += reference_arm_rows([c for c in read_cases(args.data, registry) if c["external_id"] in answered],
                                   registry, seed=args.seed)
    if not 0 <= args.n_boot <= 100_000:
        parser.error("--n-boot must be between 0 and 100000")
    try:
        results = evaluate_with_comparison(rows, registry, n_boot=args.n_boot, seed=args.seed)
    except (KeyError, ValueError) as exc:
        parser.error(f"{args.responses}: {exc}")
    for arm, scores in results["arms"].items():
        print(format_report(scores, title=f"== {arm}: {scores['n']} responses =="))
        print()
    if results["comparison"]:
        print(format_comparison(results["comparison"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
