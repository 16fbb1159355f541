"""Benchmark: a study's rankings as pairwise preferences and as DPO pairs, rows per second
and peak memory, at 150,000 cases.

Builds (once; ``--rebuild`` to redo) a PostgreSQL database with one study of ``--cases``
cases, 3 arms, 50 raters and 3 submitted assignments per case, every screen ranked (ranks
drawn at random, ties included), loaded with COPY. Then, in a fresh process each, it
streams ``pairwise_preferences`` and downloads the DPO pairs (JSON Lines) through the
export view, reporting seconds, rows and peak RSS over the RSS before. Memory that does
not grow with the study is what the chunked cursor and the per-case batches buy.
Writes bench/results/preference_pairs.json.

    .venv/bin/python bench/preference_pairs.py                  # 150,000 cases
    .venv/bin/python bench/preference_pairs.py --cases 20000    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.databases import PG, study_database  # noqa: E402
from bench.study_tables import (  # noqa: E402
    bench_study_fresh,
    cases_copy,
    rankings_copy,
    responses_copy,
    submissions_copy,
)

DB_NAME = "evalportal_bench_pairs"
RATERS_PER_CASE = 3


def build(n_cases: int, rebuild: bool) -> None:
    def holds() -> bool:
        from annotations.models import Case, Preference

        return (Case.objects.filter(study__slug="bench").count() == n_cases
                and Preference.objects.count() == n_cases * RATERS_PER_CASE * 3)

    study_database(DB_NAME, rebuild=rebuild, holds=holds, populate=lambda connection: _populate(connection, n_cases),
                   what=f"{n_cases:,} cases")


def _populate(connection, n_cases: int) -> None:
    from django.utils import timezone

    rng = random.Random(0)
    bench = bench_study_fresh("Pairs benchmark")
    now = timezone.now()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        case_ids = cases_copy(raw, bench, n_cases, now=now, specialty="Haematology", turns=[
            {"speaker": "Dr. A", "role": "attending", "text": "Start the heparin infusion at 18:00."},
            {"speaker": "Nurse B", "role": "nurse", "text": "Platelets were 95 this morning."}])
        responses = responses_copy(raw, bench, case_ids, now=now,
                                   text_of=lambda arm: f"{arm.name}: check the platelet count before heparin.")
        with raw.copy("COPY annotations_assignment (study_id, case_id, rater_id, slots, square_row, queue_position, "
                      "status, draft, created_at, shown_at, first_input_at, last_activity_at, submitted_at, "
                      "active_seconds) FROM STDIN") as copy:
            for n, case_id in enumerate(case_ids):
                slots = json.dumps([responses[case_id][arm.pk] for arm in bench.arms])
                for rater in rng.sample(bench.raters, RATERS_PER_CASE):
                    copy.write_row((bench.study.pk, case_id, rater, slots, 0, n, "submitted", "{}",
                                    now, now, now, now, now, 95.0))
        rankings_copy(raw, bench, submissions_copy(raw, bench), responses, rng)


CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["ROOT"])
import django
django.setup()


def status_mb(key):
    # VmHWM starts afresh with the process's own memory (ru_maxrss would carry the parent's over exec).
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return round(int(line.split()[1]) / 1024)


import pandas  # noqa: F401 - loaded before the baseline, as the export loads it
from annotations.selectors import preference_pairs  # noqa: F401
rss0 = status_mb("VmRSS")
start = time.perf_counter()
rows = n_bytes = 0
if os.environ["WHAT"] == "pairwise_preferences":
    from annotations.models import Study
    from annotations.selectors.preference_pairs import pairwise_preferences
    for row in pairwise_preferences(Study.objects.get(slug="bench")):
        rows += 1
else:
    from django.contrib.auth import get_user_model
    from django.test import Client
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-researcher"))
    response = client.get("/studies/bench/export/dpo-pairs/?format=jsonl")
    assert response.status_code == 200, response.status_code
    for chunk in response.streaming_content:
        n_bytes += len(chunk)
        rows += chunk.count(b"\n")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": round(seconds, 1), "rows": rows, "bytes": n_bytes, "rows_per_s": round(rows / seconds),
                  "rss_before_mb": rss0, "peak_rss_mb": status_mb("VmHWM")}))
"""


def measure(what: str) -> dict:
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB_NAME}", "DJANGO_SETTINGS_MODULE": "evalportal.settings.test",
           "ROOT": str(ROOT), "WHAT": what}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=150_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    build(args.cases, args.rebuild)
    results = {}
    for what in ("pairwise_preferences", "dpo_pairs"):
        results[what] = r = measure(what)
        print(f"{what:21} {r['rows']:>9,} rows in {r['seconds']:6.1f} s = {r['rows_per_s']:>7,} rows/s; "
              f"peak RSS {r['peak_rss_mb']} MB (after start-up {r['rss_before_mb']} MB)")
    from bench.results_file import write_results

    write_results("preference_pairs", {"benchmark": "preference_pairs", "cases": args.cases,
                                       "raters_per_case": RATERS_PER_CASE, "results": results})


if __name__ == "__main__":
    main()
