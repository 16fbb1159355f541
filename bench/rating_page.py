"""Benchmark: the rating page in-process, through Django's whole request handling (every
middleware, the session, the role, the page's queries and the template), on PostgreSQL,
with no network and no concurrency: what one rating page costs the server.

A fresh database gets one study with four arms, each with a response to a demo case that
has tables; a clinician reloads their rating page ``--requests`` times. Reports the
median and p95 milliseconds of the whole request, of the page's reads and templates alone, and
of a bare view for reference, and writes bench/results/rating_page.json.

    .venv/bin/python bench/rating_page.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "evalportal_bench_page"
PG = "postgres://postgres@127.0.0.1:5432"
ARMS = ("Baseline", "FewShot", "GeneralSFT", "BehaviorSFT")


def _fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def _setup():
    os.environ["DATABASE_URL"] = f"{PG}/{DB_NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalportal.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from annotations.models import ModelArm, Response, Study, StudyArm
    from annotations.services.cases import case_import
    from annotations.services.planner import assignments_plan
    from tests.factories import UserFactory

    study = Study.objects.create(name="Bench", slug="bench", status=Study.Status.OPEN)
    demo = (ROOT / "annotations" / "demo" / "cases.jsonl").read_bytes()
    case_import(study=study, data=demo, actor=None, source_name="cases.jsonl")
    case = study.cases.filter(split="test").exclude(tables=[]).order_by("id").first()
    for i, name in enumerate(ARMS):
        arm = ModelArm.objects.create(name=name, method="baseline", base_model="demo")
        StudyArm.objects.create(study=study, arm=arm, position=i)
        Response.objects.create(case=case, arm=arm, text=f"Response of arm {i}: " + "Check the platelets. " * 20)
    clinician = UserFactory(username="bench-clinician", role="clinician")
    assignments_plan(study=study, raters=[clinician])
    return clinician, study.assignments.get(rater=clinician, case=case)


def _timed(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _figures(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3), "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    _fresh_database()
    clinician, assignment = _setup()
    from django.test import Client
    from django.test.client import RequestFactory

    from annotations.views.rater import rating_page_response

    client = Client()
    client.force_login(clinician)
    url = f"/rate/{assignment.pk}/"
    assert client.get(url).status_code == 200
    request = RequestFactory().get(url)
    request.user = clinician
    warm = max(20, args.requests // 10)
    _timed(lambda: client.get(url), warm)
    page = _timed(lambda: client.get(url), args.requests)
    form = _timed(lambda: rating_page_response(request, assignment, assignment.draft or {}), args.requests)
    bare = _timed(lambda: client.get("/healthz"), args.requests)
    results = {"rating page (whole request)": _figures(page), "rating page (reads and templates)": _figures(form),
               "bare view /healthz (whole request)": _figures(bare)}
    for name, figures in results.items():
        print(f"{name:40s} median {figures['median_ms']:7.2f} ms   p95 {figures['p95_ms']:7.2f} ms")
    from bench.results_file import write_results

    write_results("rating_page", {"benchmark": "rating_page", "requests": args.requests, "arms": len(ARMS),
                                  "results": results})


if __name__ == "__main__":
    main()
