"""Benchmark: the full study analysis (``summarize_study``) on 1,000,000 synthetic
ratings (3 arms x 4 Likert dimensions, 20,000 cases, 50 raters, ~4.17 raters per case)
plus the intervention judgments and rankings of the same assignments, with 1,000
cluster-bootstrap resamples.

Prints the time per part and in total, and peak memory (tracemalloc per part, process
peak RSS), and writes bench/results/analysis.json (the figures and the run's settings;
``--dump-result PATH`` also writes the analysis result itself).

    .venv/bin/python bench/analysis.py            # the full benchmark
    .venv/bin/python bench/analysis.py --cases 2000 --boot 200   # a quick look

Two runs: the first times the analysis untraced (the time to report); the second runs
it again under tracemalloc to attribute peak memory to each part (tracing slows it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402

from annotations.analysis import summarize_study  # noqa: E402
from bench.results_file import write_results  # noqa: E402
from bench.synthetic_study import DEFAULT_ARMS, synthetic_study  # noqa: E402

TARGET_S = 30.0


class PartProfile:
    """Wall time per part of ``summarize_study`` (its ``part_timer``), and the peak of
    traced memory per part when ``tracemalloc`` is tracing: since tracing began (peak)
    and above what was traced when the part began (increment)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}
        self.increment_mb: dict[str, float] = {}

    @contextmanager
    def part(self, name: str):
        tracing = tracemalloc.is_tracing()
        if tracing:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 4)
            if tracing:
                peak = tracemalloc.get_traced_memory()[1]
                self.peak_mb[name] = round(peak / 2**20, 1)
                self.increment_mb[name] = round((peak - before) / 2**20, 1)


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000, help="target number of Likert ratings")
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    parser.add_argument("--strings", choices=["default", "object", "category"], default="default",
                        help="dtype of the string columns (default: pandas' own, Arrow-backed in pandas 3)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "analysis.json"))
    parser.add_argument("--dump-result", metavar="PATH", help="also write the analysis result JSON there")
    args = parser.parse_args(argv)

    n_arms, n_dims = len(DEFAULT_ARMS), 4
    # Whole assignments (arms x dimensions ratings each), at least --ratings in all.
    raters_per_case = -(-args.ratings // (n_arms * n_dims)) / args.cases
    t0 = time.perf_counter()
    study = synthetic_study(n_cases=args.cases, n_raters=args.raters, raters_per_case=raters_per_case,
                            style=True, seed=args.seed)
    synth_s = time.perf_counter() - t0
    ratings, judgments, preferences = study["ratings"], study["judgments"], study["preferences"]
    if args.strings != "default":
        ratings, judgments, preferences = (_strings(f, args.strings) for f in (ratings, judgments, preferences))
    dims = study["dimensions"]
    rss_before = peak_rss_mb()
    frames_mb = sum(f.memory_usage(deep=True).sum() for f in (ratings, judgments, preferences)) / 2**20
    print(f"synthesized {len(ratings):,} ratings, {len(judgments):,} judgments, {len(preferences):,} ranking rows "
          f"({args.cases:,} cases, {args.raters} raters, {raters_per_case:.3f} raters/case) in {synth_s:.1f} s; "
          f"frames {frames_mb:.0f} MB, peak RSS so far {rss_before:.0f} MB")

    gc.collect()
    profile = PartProfile()
    t0 = time.perf_counter()
    result = summarize_study(ratings, judgments, preferences, dims, n_boot=args.boot, seed=args.seed,
                             arms=list(DEFAULT_ARMS), part_timer=profile.part)
    total_s = time.perf_counter() - t0
    rss_after = peak_rss_mb()
    timings = profile.seconds
    print(f"\nsummarize_study, {args.boot} bootstrap resamples: {total_s:.2f} s "
          f"(target {TARGET_S:.0f} s: {'met' if total_s < TARGET_S else 'NOT met'})")
    for part, seconds in timings.items():
        print(f"  {part:<18} {seconds:8.2f} s")
    print(f"peak RSS {rss_after:.0f} MB (before the analysis: {rss_before:.0f} MB)")

    traced, increments, total_peak = {}, {}, 0.0
    if not args.no_trace:
        gc.collect()
        traced_profile = PartProfile()
        tracemalloc.start()
        t0 = time.perf_counter()
        summarize_study(ratings, judgments, preferences, dims, n_boot=args.boot, seed=args.seed,
                        arms=list(DEFAULT_ARMS), part_timer=traced_profile.part)
        traced_s = time.perf_counter() - t0
        tracemalloc.stop()
        traced, increments = traced_profile.peak_mb, traced_profile.increment_mb
        print(f"\ntracemalloc run ({traced_s:.1f} s with tracing; the input frames are not traced):")
        print(f"  {'part':<18} {'peak traced':>12} {'part increment':>15}")
        for part, mb in traced.items():
            print(f"  {part:<18} {mb:9.1f} MB {increments.get(part, 0):12.1f} MB")
        total_peak = max(traced.values(), default=0.0)
        print(f"  overall peak traced {total_peak:.1f} MB")

    bt = result["preferences"]["bradley_terry"]
    alpha = {a["dimension"]: round(a["alpha"], 4) for a in result["agreement"]["alpha"]}
    strengths = {arm: round(v, 3) for arm, v in zip(bt["arms"], bt["log_strength"])}
    print(f"\nBradley-Terry log-strengths {strengths}, "
          f"position log-odds {bt['position_log_odds']:.3f}; alpha {alpha}")

    figures = {
        "benchmark": "analysis",
        "n_ratings": len(ratings), "n_judgments": len(judgments), "n_preference_rows": len(preferences),
        "n_cases": args.cases, "n_raters": args.raters, "n_arms": n_arms, "n_likert_dimensions": n_dims,
        "raters_per_case": raters_per_case, "n_boot": args.boot, "seed": args.seed,
        "total_s": round(total_s, 3), "target_s": TARGET_S, "target_met": total_s < TARGET_S,
        "parts_s": timings, "peak_traced_mb_per_part": traced, "peak_increment_mb_per_part": increments,
        "peak_traced_mb": total_peak if traced else None, "string_columns": args.strings,
        "peak_rss_mb": round(rss_after, 1), "peak_rss_before_analysis_mb": round(rss_before, 1),
        "input_frames_mb": round(frames_mb, 1), "synthesis_s": round(synth_s, 2),
        "environment": {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
                    "scipy": scipy.__version__, "cpus": _cpus(), "platform": platform.platform(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
    }
    print()
    write_results("analysis", figures, args.out)
    if args.dump_result:
        Path(args.dump_result).write_text(json.dumps(result, allow_nan=False))
        print(f"wrote the analysis result to {args.dump_result}")
    return figures


def _strings(frame: pd.DataFrame, dtype: str) -> pd.DataFrame:
    columns = [c for c in ("arm", "dimension", "value", "category", "task") if c in frame.columns
               and not pd.api.types.is_numeric_dtype(frame[c])]
    return frame.astype({c: dtype for c in columns})


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    main()
