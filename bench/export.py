"""Benchmark: export 1,000,000 ratings as CSV, Parquet and JSON Lines through the real view.

Builds (once; ``--rebuild`` to redo) a PostgreSQL database with one study of 20,000
cases, 3 arms, 50 raters and enough submitted assignments for the asked number of
ratings (18 per assignment: 3 responses x 6 rubric rows), loaded with COPY. Then, for
each format, a fresh process logs in as a researcher, GETs
``/studies/bench/export/ratings.<fmt>`` through Django's full request stack (URL
routing, middleware, the streaming view) and consumes the stream; it reports rows/s and
its own peak RSS before and after. Writes bench/results/export.json.

    .venv/bin/python bench/export.py                      # 1,000,000 ratings
    .venv/bin/python bench/export.py --ratings 100000     # a quick look

Targets: at least 100,000 rows/s and peak RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
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

DB_NAME = "evalportal_bench_export"


def build(ratings: int, rebuild: bool) -> None:
    study_database(DB_NAME, rebuild=rebuild, holds=lambda: rating_count() == ratings,
                   populate=lambda connection: _populate(connection, ratings), what=f"{ratings:,} ratings")


def rating_count() -> int:
    from annotations.models import Rating

    return Rating.objects.count()


def _populate(connection, n_ratings: int) -> None:
    import random
    from datetime import timedelta

    from django.utils import timezone

    rng = random.Random(0)
    bench = bench_study_fresh("Export benchmark")
    arms = bench.arms
    n_cases, per_assignment = 20_000, 18
    n_assignments = -(-n_ratings // per_assignment)
    now = timezone.now()
    provenance = json.dumps({"base_hash": "ab" * 32, "adapter_hash": None, "seed": 0, "template_version": "v1",
                             "decoding": {"max_new_tokens": 160, "do_sample": False}, "worker_host": "gpu01",
                             "device": "NVIDIA H100"})
    with connection.cursor() as cursor:
        raw = cursor.cursor
        case_ids = cases_copy(raw, bench, n_cases, now=now, external_id="case-{:05d}",
                              turns=[{"speaker": "Dr. A", "role": "attending", "text": "..."}])
        responses = responses_copy(raw, bench, case_ids, now=now, provenance=provenance,
                                   text_of=lambda arm: "Check the platelet count before heparin.")
        pairs, seen = [], set()
        while len(pairs) < n_assignments:
            case_id, rater = case_ids[len(pairs) % n_cases], rng.choice(bench.raters)
            if (case_id, rater) not in seen:
                seen.add((case_id, rater))
                pairs.append((case_id, rater))
        with raw.copy("COPY annotations_assignment (study_id, case_id, rater_id, slots, square_row, queue_position, "
                      "status, draft, created_at, shown_at, first_input_at, last_activity_at, submitted_at, "
                      "active_seconds) FROM STDIN") as copy:
            for n, (case_id, rater) in enumerate(pairs):
                slots = json.dumps([responses[case_id][a.pk] for a in arms])
                # Every assignment its own times, as in a real study.
                shown = now - timedelta(minutes=n)
                first_input, submitted = shown + timedelta(seconds=20), shown + timedelta(seconds=95)
                copy.write_row((bench.study.pk, case_id, rater, slots, 0, n, "submitted", "{}", shown, shown,
                                first_input, submitted, submitted, 95.0))
        submissions = submissions_copy(raw, bench)
        written = 0
        with raw.copy("COPY annotations_rating (submission_id, response_id, slot, dimension, score, choice, note) "
                      "FROM STDIN") as copy:
            for sid, case_id in submissions:
                for slot, arm in enumerate(arms):
                    rid = responses[case_id][arm.pk]
                    for dim in ("realism", "proactivity", "helpfulness", "safety"):
                        if written < n_ratings:
                            copy.write_row((sid, rid, slot, dim, float(rng.randint(1, 5)), "", ""))
                            written += 1
                    for dim, choice in (("intervention", rng.choice(["under", "appropriate", "over"])),
                                        ("harmful", "no")):
                        if written < n_ratings:
                            copy.write_row((sid, rid, slot, dim, None, choice, ""))
                            written += 1
        rankings_copy(raw, bench, submissions, responses, rng)


CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, os.environ["ROOT"])
import django
django.setup()
from django.test import Client
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
client = Client()
from django.contrib.auth import get_user_model
client.force_login(get_user_model().objects.get(username="bench-researcher"))
fmt = os.environ["FMT"]
start = time.perf_counter()
response = client.get(f"/studies/bench/export/ratings.{fmt}")
assert response.status_code == 200, response.status_code
n_bytes = n_lines = 0
for chunk in response.streaming_content:
    n_bytes += len(chunk)
    if fmt != "parquet":
        n_lines += chunk.count(b"\n")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "bytes": n_bytes, "lines": n_lines, "rss_before_mb": rss0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(fmt: str, ratings: int) -> dict:
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB_NAME}", "DJANGO_SETTINGS_MODULE": "evalportal.settings.test",
           "ROOT": str(ROOT), "FMT": fmt}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rows"] = ratings
    result["rows_per_s"] = round(ratings / result["seconds"])
    if fmt == "csv":
        assert result["lines"] == ratings + 1, result
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--formats", default="csv,parquet,jsonl")
    args = parser.parse_args()
    build(args.ratings, args.rebuild)
    results = {}
    for fmt in args.formats.split(","):
        results[fmt] = measure(fmt, args.ratings)
        r = results[fmt]
        print(f"{fmt:8} {r['rows']:>9,} rows in {r['seconds']:6.1f} s = {r['rows_per_s']:>8,} rows/s; "
              f"{r['bytes'] / 2**20:7.1f} MiB; peak RSS {r['peak_rss_mb']:.0f} MB (after start-up {r['rss_before_mb']:.0f} MB)")
    from bench.results_file import write_results

    write_results("export", {"benchmark": "export", "ratings": args.ratings,
                             "targets": {"rows_per_s": 100_000, "peak_rss_mb": 300}, "results": results})


if __name__ == "__main__":
    main()
