"""``python -m modeling.evaluate responses.jsonl [--data cases.jsonl]``: BehaviorBench
Macro F1 per task, per category and overall, the proactive measures (flag rate, issue
found, restraint, over-intervention), both halves of balanced tasks and behavior
selection, for each arm found in a responses file written by ``python -m
modeling.generate``; then the arms compared: Macro F1 with cluster-bootstrap CIs over
cases, and the paired differences BehaviorSFT - GeneralSFT and each arm - Baseline.

The gold fields are read from the responses file itself (generate copies them there);
``--data`` takes them from the case file instead, matched by external_id.

Whether a response names its case's planted problem is read from the case's terms
(offline, no judge). ``--planted-readings judged.jsonl`` reads it instead from an LLM
judge's answers (``python -m modeling.judge --planted``) and reports how the judge's
reading agrees with the terms' on the responses where the reading decides the score.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from modeling.comparison import PatternCounts, compare_arms, format_comparison
from modeling.metrics import ScoreAccumulator, format_report, score_response
from modeling.planted import reading_agreement
from modeling.task_types import DEFAULT_TASKS, TASKS_FILE_HELP, TaskType, registry_from_file

GOLD_FIELDS = ("task", "category", "gold_label", "gold_behavior", "label_space", "question", "planted_problem",
               "specialty", "turns", "tables", "images", "reference_response")


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


def join_planted_readings(rows: Iterable[Mapping], judged: Iterable[Mapping]) -> list[dict]:
    """Rows with ``planted_named`` set from a judge's ``"planted"`` rows (matched by
    external_id and arm); a reading the judge left undecided is not used."""
    readings = {(j["external_id"], j["arm"]): j["named"] for j in judged
                if j.get("type") == "planted" and isinstance(j.get("named"), bool)}
    return [{**row, "planted_named": readings.get((row.get("external_id"), row.get("arm")))} for row in rows]


def planted_agreement(rows: Iterable[Mapping], registry: Mapping[str, TaskType] = DEFAULT_TASKS) -> dict | None:
    """How the judge's readings (``planted_named``) agree with the terms' on the
    responses whose score the reading decides (a flag on a planted case; a balanced
    answer's concern): overall and per arm (:func:`modeling.planted.reading_agreement`).
    None when no row carries a judge's reading."""
    pairs: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for row in rows:
        if not isinstance(row.get("planted_named"), bool) or row.get("task") not in registry:
            continue
        offline = score_response({**row, "planted_named": None}, registry[row["task"]])
        if offline["concern_found"] is not None:
            terms = offline["concern_found"]
        elif offline["flagged"] and offline["issue_found"] is not None:
            terms = offline["issue_found"]
        else:
            continue
        pairs[row.get("arm") or "responses"].append((row["planted_named"], terms))
    if not pairs:
        return None
    return {"all": reading_agreement(p for arm_pairs in pairs.values() for p in arm_pairs),
            "arms": {arm: reading_agreement(arm_pairs) for arm, arm_pairs in sorted(pairs.items())}}


def format_agreement(agreement: Mapping) -> str:
    def line(name: str, a: Mapping) -> str:
        kappa = "undefined" if a["kappa"] is None else f"{a['kappa']:.3f}"
        return (f"  {name:<14} {a['n']:>5} responses, agree {a['agreement']:.1%}, Cohen's kappa {kappa}; "
                f"named by the judge only {a['judge_only']}, by the terms only {a['terms_only']}")
    return "\n".join(["== the planted problem named: the judge's reading vs the terms' ==",
                      line("all arms", agreement["all"]), *(line(arm, a) for arm, a in agreement["arms"].items())])


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
            labels[key][arm] = scored["f1_label"]
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
                        help="also score rule-written arms on the same cases: the floor (always flag, always silent, one "
                             "letter and flag everything, a random label), the chance arm, the reference response, and "
                             "arms that try to game the reading (echo, every planted term, a shotgun; modeling/reference_arms.py)")
    parser.add_argument("--planted-readings", metavar="JUDGED_JSONL",
                        help="read whether a response names the planted problem from an LLM judge's answers "
                             "(python -m modeling.judge --planted) instead of the terms, and report their agreement")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the CIs (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    args = parser.parse_args(argv)

    try:
        registry = registry_from_file(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        rows = read_responses(args.responses)
        judged = read_responses(args.planted_readings) if args.planted_readings else None
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
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
    if judged is not None:
        rows = join_planted_readings(rows, judged)
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
    if args.planted_readings:
        results["planted_agreement"] = planted_agreement(rows, registry)
        print(format_agreement(results["planted_agreement"]) if results["planted_agreement"] else
              f"{args.planted_readings} holds no decided reading of a response whose score it would decide")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
