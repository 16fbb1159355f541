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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.databases import PG, database_ready, django_on  # noqa: E402

DB_NAME = "evalportal_bench_export"


def build(ratings: int, rebuild: bool) -> None:
    database_ready(DB_NAME, rebuild=rebuild)
    django_on(DB_NAME)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from annotations.models import Rating

    if Rating.objects.count() == ratings:
        print(f"reusing {DB_NAME}: {ratings:,} ratings")
        return
    started = time.perf_counter()
    _populate(connection, ratings)
    print(f"built {DB_NAME} with {Rating.objects.count():,} ratings in {time.perf_counter() - started:.0f} s")


def _populate(connection, n_ratings: int) -> None:
    import random
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotations.models import (
        Assignment,
        Case,
        ModelArm,
        Preference,
        Rating,
        Response,
        Study,
        StudyArm,
        Submission,
    )
    from annotations.services.users import user_create

    rng = random.Random(0)
    for model in (Preference, Rating, Submission, Assignment, Response, Case, StudyArm, Study):
        model.objects.all().delete()
    get_user_model().objects.filter(username__startswith="bench-").delete()
    study = Study.objects.create(name="Export benchmark", slug="bench")
    arms = [ModelArm.objects.get_or_create(name=f"bench-{name}", defaults={"method": "baseline", "base_model": "demo"})[0]
            for name in ("Baseline", "GeneralSFT", "BehaviorSFT")]
    for i, arm in enumerate(arms):
        StudyArm.objects.create(study=study, arm=arm, position=i)
    user_create(username="bench-researcher", password="bench-pass-123456", role="researcher")
    raters = [user_create(username=f"bench-rater{i:02d}", password="x-bench-pass-1", role="clinician").pk
              for i in range(50)]
    n_cases, per_assignment = 20_000, 18
    n_assignments = -(-n_ratings // per_assignment)
    now = timezone.now()
    provenance = json.dumps({"base_hash": "ab" * 32, "adapter_hash": None, "seed": 0, "template_version": "v1",
                             "decoding": {"max_new_tokens": 160, "do_sample": False}, "worker_host": "gpu01",
                             "device": "NVIDIA H100"})
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY annotations_case (study_id, external_id, task, category, specialty, split, turns, tables, "
                      "images, question, gold_behavior, label_space, gold_label, reference_response, metadata, "
                      "content_hash, created_at, in_rating_sample, split_assigned, expected, role, planted_problem) "
                      "FROM STDIN") as copy:
            for c in range(n_cases):
                copy.write_row((study.pk, f"case-{c:05d}", "omission_detection", "proactive", "", "test",
                                '[{"speaker": "Dr. A", "role": "attending", "text": "..."}]', "[]", "[]", None,
                                "proactive", '["flag", "no_flag"]', "flag", "", "{}", f"{c:064d}", now, True, False, "{}",
                                "study", "{}"))
        case_ids = [r[0] for r in raw.execute("SELECT id FROM annotations_case WHERE study_id=%s ORDER BY id",
                                              (study.pk,)).fetchall()]
        with raw.copy("COPY annotations_response (case_id, arm_id, text, raw_text, predicted_behavior, "
                      "prompt_tokens, completion_tokens, latency_s, provenance, names_model, created_at, "
                      "finish_reason) FROM STDIN") as copy:
            for case_id in case_ids:
                for arm in arms:
                    copy.write_row((case_id, arm.pk, "Check the platelet count before heparin.", "", "proactive",
                                    400, 42, 1.5, provenance, False, now, "stop"))
        responses = {}
        for rid, case_id, arm_id in raw.execute("SELECT id, case_id, arm_id FROM annotations_response").fetchall():
            responses.setdefault(case_id, {})[arm_id] = rid
        pairs, seen = [], set()
        while len(pairs) < n_assignments:
            case_id, rater = case_ids[len(pairs) % n_cases], rng.choice(raters)
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
                copy.write_row((study.pk, case_id, rater, slots, 0, n, "submitted", "{}", shown, shown, first_input,
                                submitted, submitted, 95.0))
        assignment_rows = raw.execute("SELECT id, case_id, rater_id, submitted_at FROM annotations_assignment "
                                      "WHERE study_id=%s", (study.pk,)).fetchall()
        with raw.copy("COPY annotations_submission (assignment_id, revision, is_current, comment, reason, "
                      "submitted_by_id, submitted_at, idempotency_key) FROM STDIN") as copy:
            for aid, _, rater, submitted in assignment_rows:
                copy.write_row((aid, 1, True, "", "", rater, submitted, ""))
        submissions = raw.execute("SELECT s.id, a.case_id FROM annotations_submission s JOIN annotations_assignment a "
                                  "ON a.id = s.assignment_id WHERE a.study_id=%s", (study.pk,)).fetchall()
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
        # Every screen ranked, as the rating page asks.
        with raw.copy("COPY annotations_preference (submission_id, response_id, slot, rank) FROM STDIN") as copy:
            for sid, case_id in submissions:
                for slot, arm in enumerate(arms):
                    copy.write_row((sid, responses[case_id][arm.pk], slot, rng.randint(1, 3)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


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
