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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.databases import PG, database_ready, django_on  # noqa: E402

DB_NAME = "evalportal_bench_pairs"
RATERS_PER_CASE = 3


def build(n_cases: int, rebuild: bool) -> None:
    database_ready(DB_NAME, rebuild=rebuild)
    django_on(DB_NAME)
    from django.core.management import call_command
    from django.db import connection

    from annotations.models import Case, Preference

    call_command("migrate", verbosity=0)
    if (Case.objects.filter(study__slug="bench").count() == n_cases
            and Preference.objects.count() == n_cases * RATERS_PER_CASE * 3):
        print(f"reusing {DB_NAME}: {n_cases:,} cases")
        return
    started = time.perf_counter()
    _populate(connection, n_cases)
    print(f"built {DB_NAME} with {n_cases:,} cases in {time.perf_counter() - started:.0f} s")


def _populate(connection, n_cases: int) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotations.models import Assignment, Case, ModelArm, Preference, Rating, Response, Study, StudyArm, Submission
    from annotations.services.users import user_create

    rng = random.Random(0)
    for model in (Preference, Rating, Submission, Assignment, Response, Case, StudyArm, Study):
        model.objects.all().delete()
    get_user_model().objects.filter(username__startswith="bench-").delete()
    study = Study.objects.create(name="Pairs benchmark", slug="bench")
    arms = [ModelArm.objects.get_or_create(name=f"bench-{name}", defaults={"method": "baseline", "base_model": "demo"})[0]
            for name in ("Baseline", "GeneralSFT", "BehaviorSFT")]
    for i, arm in enumerate(arms):
        StudyArm.objects.create(study=study, arm=arm, position=i)
    user_create(username="bench-researcher", password="bench-pass-123456", role="researcher")
    raters = [user_create(username=f"bench-rater{i:02d}", password="x-bench-pass-1", role="clinician").pk
              for i in range(50)]
    now = timezone.now()
    turns = json.dumps([{"speaker": "Dr. A", "role": "attending", "text": "Start the heparin infusion at 18:00."},
                        {"speaker": "Nurse B", "role": "nurse", "text": "Platelets were 95 this morning."}])
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY annotations_case (study_id, external_id, task, category, specialty, split, turns, tables, "
                      "images, question, gold_behavior, label_space, gold_label, reference_response, metadata, "
                      "content_hash, created_at, in_rating_sample, split_assigned, expected, role, planted_problem) "
                      "FROM STDIN") as copy:
            for c in range(n_cases):
                copy.write_row((study.pk, f"case-{c:06d}", "omission_detection", "proactive", "Haematology", "test",
                                turns, "[]", "[]", None, "proactive", '["flag", "no_flag"]', "flag", "", "{}",
                                f"{c:064d}", now, True, False, "{}", "study", "{}"))
        case_ids = [r[0] for r in raw.execute("SELECT id FROM annotations_case WHERE study_id=%s ORDER BY id",
                                              (study.pk,)).fetchall()]
        with raw.copy("COPY annotations_response (case_id, arm_id, text, raw_text, predicted_behavior, "
                      "prompt_tokens, completion_tokens, latency_s, provenance, names_model, created_at, finish_reason) "
                      "FROM STDIN") as copy:
            for case_id in case_ids:
                for arm in arms:
                    copy.write_row((case_id, arm.pk, f"{arm.name}: check the platelet count before heparin.", "",
                                    "proactive", 400, 42, 1.5, "{}", False, now, "stop"))
        responses: dict[int, list[int]] = {}
        for rid, case_id in raw.execute("SELECT id, case_id FROM annotations_response ORDER BY arm_id").fetchall():
            responses.setdefault(case_id, []).append(rid)
        with raw.copy("COPY annotations_assignment (study_id, case_id, rater_id, slots, square_row, queue_position, "
                      "status, draft, created_at, shown_at, first_input_at, last_activity_at, submitted_at, "
                      "active_seconds) FROM STDIN") as copy:
            for n, case_id in enumerate(case_ids):
                for rater in rng.sample(raters, RATERS_PER_CASE):
                    copy.write_row((study.pk, case_id, rater, json.dumps(responses[case_id]), 0, n, "submitted", "{}",
                                    now, now, now, now, now, 95.0))
        # Read before the COPY: the connection takes no other query while one runs.
        assignments = raw.execute("SELECT id, rater_id FROM annotations_assignment WHERE study_id=%s",
                                  (study.pk,)).fetchall()
        with raw.copy("COPY annotations_submission (assignment_id, revision, is_current, comment, reason, "
                      "submitted_by_id, submitted_at, idempotency_key) FROM STDIN") as copy:
            for aid, rater in assignments:
                copy.write_row((aid, 1, True, "", "", rater, now, ""))
        submissions = raw.execute("SELECT s.id, a.case_id FROM annotations_submission s JOIN annotations_assignment a "
                                  "ON a.id = s.assignment_id WHERE a.study_id=%s", (study.pk,)).fetchall()
        with raw.copy("COPY annotations_preference (submission_id, response_id, slot, rank) FROM STDIN") as copy:
            for sid, case_id in submissions:
                for slot, rid in enumerate(responses[case_id]):
                    copy.write_row((sid, rid, slot, rng.randint(1, 3)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


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
