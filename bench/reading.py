"""Benchmark: what reading a response costs (modeling.reading through
modeling.metrics.score_response, which the portal runs on every response it writes and
the automatic metrics run on every response of a study), and what checking a case costs
at import (the validation, with the echo check of ``asserts``, and the import's
warnings).

The demo's responses are scored against their cases ``--rounds`` times after a warm-up;
the demo's cases are validated and checked as many times. Reports microseconds per
response by kind of task (proactive flag tasks and balanced tasks are read with
medspaCy's ConText; reactive ones only have a letter read) and per case, and writes
bench/results/reading.json.

    .venv/bin/python bench/reading.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results_file import write_results  # noqa: E402
from modeling.case_checks import case_warnings  # noqa: E402
from modeling.cases import read_cases, validate_case  # noqa: E402
from modeling.evaluate import join_gold, read_responses  # noqa: E402
from modeling.metrics import score_response  # noqa: E402
from modeling.task_types import DEFAULT_TASKS  # noqa: E402

CASES = ROOT / "annotations" / "demo" / "cases.jsonl"
RESPONSES = ROOT / "annotations" / "demo" / "responses.jsonl"


def _kind(task: str) -> str:
    spec = DEFAULT_TASKS[task]
    return "flag" if spec.extractor == "flag" else spec.category


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="where to write the JSON (default bench/results/reading.json)")
    args = parser.parse_args(argv)

    cases = read_cases(CASES)
    rows = join_gold(read_responses(RESPONSES), cases)
    for row in rows:  # warm-up: spaCy's pipeline, the rules, the caches
        score_response(row, DEFAULT_TASKS[row["task"]])
    per_kind: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for row in rows:
            start = time.perf_counter()
            score_response(row, DEFAULT_TASKS[row["task"]])
            per_kind.setdefault(_kind(row["task"]), []).append(time.perf_counter() - start)
    every = [t for times in per_kind.values() for t in times]
    scoring = {kind: {"n": len(times), "median_us": round(statistics.median(times) * 1e6, 1),
                      "mean_us": round(statistics.fmean(times) * 1e6, 1)} for kind, times in sorted(per_kind.items())}
    scoring["all"] = {"n": len(every), "mean_us": round(statistics.fmean(every) * 1e6, 1),
                      "responses_per_s": round(len(every) / sum(every))}

    checks: list[float] = []
    for _ in range(args.rounds):
        for number, case in enumerate(cases, start=1):
            start = time.perf_counter()
            validate_case(case, number, raw_text=json.dumps(case))
            case_warnings(case)
            checks.append(time.perf_counter() - start)
    checking = {"n": len(checks), "mean_us": round(statistics.fmean(checks) * 1e6, 1),
                "median_us": round(statistics.median(checks) * 1e6, 1)}

    print(f"scoring {len(rows)} demo responses x {args.rounds}:")
    for kind, figures in scoring.items():
        print(f"  {kind:<10} {figures}")
    print(f"checking {len(cases)} demo cases x {args.rounds} (validation and warnings): {checking}")
    figures = {"benchmark": "reading", "rounds": args.rounds, "responses": len(rows), "cases": len(cases),
               **{f"us_per_response_{kind}": figures["mean_us"] for kind, figures in scoring.items()},
               "responses_per_s": scoring["all"]["responses_per_s"], "us_per_case_check": checking["mean_us"]}
    write_results("reading", figures, args.out)
    return figures


if __name__ == "__main__":
    main()
