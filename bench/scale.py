"""Benchmark: a BehaviorBench-sized study from import to dashboard, on PostgreSQL.

150,000 test cases in 13 task types x 5 arms, through the portal's real code and real
Celery worker processes; generation uses the stand-in engine of bench/stand_in.py
(canned text, no model), so the figures are what the portal itself adds:

1. import: ``manage.py import_cases`` against a raw ``COPY`` of the same file into a jsonb
   column, in the same run (ratio), and the import's peak RSS;
2. generation: one job per arm over all test cases, cut into chunks; the first arm with
   one worker, the other four with two workers at once: responses written per second;
3. sampling and planning: a rating sample of 300 cases for 3 clinicians, who then submit
   every assignment (synthetic answers);
4. aggregation: the dashboard's full analysis with the automatic metrics over every
   response (750,000), time and peak RSS;
5. reading: the responses page (pages and filters) and the dashboard, p50/p95 ms in
   process.

    .venv/bin/python bench/scale.py                      # 150,000 cases, 5 arms (about 30 min here)
    .venv/bin/python bench/scale.py --cases 20000        # a quicker look
    .venv/bin/python bench/scale.py --again aggregation  # again on the study the last run left

Targets: import at most 3x the raw COPY with peak RSS under 500 MB; at least 2,000
responses written per second per worker.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.scale_data import EXTRA_TASKS, build_case_file  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
DB_NAME = "evalportal_bench_scale"
REDIS = "redis://127.0.0.1:6379/14"
ARMS = (("Baseline", "baseline"), ("FewShot", "fewshot"), ("Instructed", "instructed"),
        ("GeneralSFT", "general_sft"), ("BehaviorSFT", "behavior_sft"))
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def _env(**extra) -> dict:
    return {**os.environ, "DATABASE_URL": f"{PG}/{DB_NAME}", "REDIS_URL": REDIS,
            "DJANGO_SETTINGS_MODULE": "evalportal.settings.test", "LOG_LEVEL": "WARNING", **extra}


def run_measured(cmd: list[str], **env) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of the process and its children, stdout) of a command."""
    started = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    peak = 0.0

    def watch():
        nonlocal peak
        ps = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
                peak = max(peak, rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = process.communicate()
    watcher.join()
    if process.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return time.perf_counter() - started, peak, out


def django_script(code: str, **env) -> tuple[float, float, dict]:
    """Run ``code`` with Django set up in a fresh process; it prints one JSON object."""
    seconds, peak, out = run_measured([PYTHON, "-c", "import django; django.setup()\n" + code], **env)
    return seconds, peak, json.loads(out.strip().splitlines()[-1])


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    run_measured([PYTHON, "manage.py", "migrate", "-v0"])
    django_script(f"""
import json
from annotations.models import ModelArm, Study, StudyArm
from tests.factories import UserFactory
study = Study.objects.create(name="BehaviorBench at size", slug="scale", status="open", extra_tasks={EXTRA_TASKS!r})
for i, (name, method) in enumerate({ARMS!r}):
    StudyArm.objects.create(study=study, arm=ModelArm.objects.create(name=name, method=method, base_model="demo"),
                            position=i)
for i in range(3):
    UserFactory(username=f"clinician{{i}}", role="clinician")
UserFactory(username="researcher", role="researcher")
print(json.dumps({{}}))
""")


def raw_copy_seconds(path: Path) -> float:
    """A raw COPY of the file's lines into one jsonb column: the floor for any import."""
    import psycopg

    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_raw_cases (doc jsonb)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_raw_cases (doc) FROM STDIN "
                                            "WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')") as copy:
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    copy.write(block)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_cases")
    return seconds


def phase_import(path: Path) -> dict:
    raw = raw_copy_seconds(path)
    seconds, peak, _ = run_measured([PYTHON, "manage.py", "import_cases", str(path), "--study", "scale"])
    result = {"file_mb": round(path.stat().st_size / 1e6, 1), "raw_copy_s": round(raw, 1),
              "import_s": round(seconds, 1), "ratio": round(seconds / raw, 2), "peak_rss_mb": round(peak)}
    print(f"import: {seconds:.1f} s against a raw COPY of {raw:.1f} s (x{seconds / raw:.2f}), peak RSS {peak:.0f} MB")
    return result


class Workers:
    def __init__(self, n: int, log_dir: Path):
        self.processes = []
        for i in range(n):
            log = (log_dir / f"scale-worker-{i}.log").open("w")
            self.processes.append(subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "evalportal", "worker", "-Q", "gpu", "-c", "1", "--pool", "solo",
                 "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env=_env(EVALPORTAL_GENERATION_ENGINE="bench.stand_in.stand_in_engine")))
        time.sleep(8)  # start-up: Django, the task modules, torch

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=60)


def _generate(arm_names: list[str]) -> dict:
    code = f"""
import json, time
from annotations.models import GenerationChunk, GenerationJob, ModelArm, Study
from annotations.services.generation import generation_job_queue
study = Study.objects.get(slug="scale")
started = time.perf_counter()
jobs = [generation_job_queue(study=study, arm=ModelArm.objects.get(name=name)) for name in {arm_names!r}]
queued = time.perf_counter() - started
while GenerationJob.objects.filter(pk__in=[j.pk for j in jobs], status__in=["queued", "running"]).exists():
    time.sleep(0.5)
seconds = time.perf_counter() - started
done = GenerationJob.objects.filter(pk__in=[j.pk for j in jobs])
# Steady state: each worker's first chunk (imports, first connections) left out.
chunks = list(GenerationChunk.objects.filter(job__in=done).order_by("started_at").values(
    "worker", "units", "started_at", "finished_at"))
firsts, steady = set(), []
for chunk in chunks:
    if chunk["worker"] in firsts:
        steady.append(chunk)
    firsts.add(chunk["worker"])
span = (max(c["finished_at"] for c in steady) - min(c["started_at"] for c in steady)).total_seconds() if steady else 0
print(json.dumps({{"seconds": seconds, "queue_s": queued, "statuses": sorted(set(done.values_list("status", flat=True))),
                  "responses": sum(done.values_list("progress_done", flat=True)),
                  "chunks": len(chunks), "steady_responses": sum(c["units"] for c in steady), "steady_s": span,
                  "first_chunk_s": max((c["finished_at"] - c["started_at"]).total_seconds()
                                       for c in chunks if c not in steady)}}))
"""
    _, _, result = django_script(code)
    return result


def phase_generation(log_dir: Path) -> dict:
    out = {}
    for n_workers, arms in ((1, [ARMS[0][0]]), (2, [name for name, _ in ARMS[1:]])):
        workers = Workers(n_workers, log_dir)
        try:
            r = _generate(arms)
        finally:
            workers.stop()
        rate = r["responses"] / r["seconds"]
        steady = r["steady_responses"] / r["steady_s"] if r["steady_s"] else 0
        out[f"{n_workers}_worker{'s' if n_workers > 1 else ''}"] = {
            "arms": len(arms), "responses": r["responses"], "chunks": r["chunks"], "seconds": round(r["seconds"], 1),
            "queue_s": round(r["queue_s"], 2), "responses_per_s": round(rate), "per_worker": round(rate / n_workers),
            "steady_responses_per_s": round(steady), "steady_per_worker": round(steady / n_workers),
            "first_chunk_s": round(r["first_chunk_s"], 1), "statuses": r["statuses"]}
        print(f"generation, {n_workers} worker(s): {r['responses']:,} responses in {r['seconds']:.1f} s "
              f"({rate:,.0f}/s, {rate / n_workers:,.0f} per worker; queueing took {r['queue_s']:.1f} s); "
              f"after each worker's first chunk ({r['first_chunk_s']:.0f} s: imports) {steady:,.0f}/s, "
              f"{steady / n_workers:,.0f} per worker")
    return out


def phase_sample_and_ratings() -> dict:
    code = """
import json, random, time
from annotations.models import Assignment, Study
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from annotations.services.studies import rating_sample_draw
from django.contrib.auth import get_user_model
from tests.conftest import complete_rating
study = Study.objects.get(slug="scale")
started = time.perf_counter()
rating_sample_draw(study=study, size=300)
raters = list(get_user_model().objects.filter(username__startswith="clinician"))
plan = assignments_plan(study=study, raters=raters)
planned = time.perf_counter() - started
rng = random.Random(1)
started = time.perf_counter()
for a in Assignment.objects.filter(study=study).select_related("study", "rater"):
    assignment_submit(assignment=a, rater=a.rater, data=complete_rating(len(a.slots), study.rubric,
                                                                        likert=str(rng.randint(1, 5))))
print(json.dumps({"plan_s": planned, "assignments": plan.created, "submit_s": time.perf_counter() - started}))
"""
    _, _, r = django_script(code)
    print(f"sample of 300 and plan for 3 raters: {r['plan_s']:.1f} s ({r['assignments']} assignments); "
          f"{r['assignments']} submissions in {r['submit_s']:.1f} s")
    return {"sample": 300, "raters": 3, "plan_s": round(r["plan_s"], 2), "assignments": r["assignments"],
            "submit_s": round(r["submit_s"], 1)}


def phase_aggregation() -> dict:
    code = """
import json, time
from annotations.models import Response, Study
from annotations.services.aggregation import study_aggregate
study = Study.objects.get(slug="scale")
started = time.perf_counter()
analysis = study_aggregate(study=study)
print(json.dumps({"seconds": time.perf_counter() - started, "ratings": analysis.n_ratings,
                  "responses": Response.objects.filter(case__study=study).count(),
                  "arms_scored": len(analysis.result["automatic"])}))
"""
    seconds, peak, r = django_script(code)
    print(f"aggregation: {r['seconds']:.1f} s over {r['responses']:,} responses and {r['ratings']:,} ratings, "
          f"peak RSS {peak:.0f} MB")
    return {"seconds": round(r["seconds"], 1), "responses": r["responses"], "ratings": r["ratings"],
            "arms_scored": r["arms_scored"], "peak_rss_mb": round(peak)}


def phase_reading(requests: int) -> dict:
    code = f"""
import json, random, statistics, time
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username="researcher"))
rng = random.Random(2)
def timed(urls):
    out = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        out.append((time.perf_counter() - started) * 1000)
    out.sort()
    return {{"median_ms": round(statistics.median(out), 1), "p95_ms": round(out[int(0.95 * (len(out) - 1))], 1),
            "n": len(out)}}
n = {requests}
pages = [f"/studies/scale/responses/?page={{rng.randint(1, 3000)}}" for _ in range(n)]
filtered = [f"/studies/scale/responses/?task=error_correction&behavior=proactive&page={{rng.randint(1, 50)}}"
            for _ in range(n)]
search = ["/studies/scale/responses/?q=platelet&page=2" for _ in range(max(3, n // 10))]
print(json.dumps({{"responses page": timed(pages), "responses page, filtered": timed(filtered),
                  "responses page, text search": timed(search), "dashboard": timed(["/studies/scale/dashboard/"] * n)}}))
"""
    _, _, r = django_script(code)
    for name, figures in r.items():
        print(f"{name}: median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms ({figures['n']} requests)")
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=150_000)
    parser.add_argument("--requests", type=int, default=40, help="requests per page measured")
    parser.add_argument("--again", metavar="PHASE", nargs="+", choices=("aggregation", "reading"),
                        help="measure these phases again on the study the last run left, keeping its other figures")
    args = parser.parse_args()
    import redis

    from bench.results_file import RESULTS_DIR, write_results

    log_dir = ROOT / "var" / "bench"
    phases = (("import", lambda: phase_import(path)), ("generation", lambda: phase_generation(log_dir)),
              ("sample_and_ratings", phase_sample_and_ratings), ("aggregation", phase_aggregation),
              ("reading", lambda: phase_reading(args.requests)))
    results = {}
    if args.again:
        results = json.loads((RESULTS_DIR / "scale.json").read_text())["results"]
        phases = tuple((name, phase) for name, phase in phases if name in args.again)
    else:
        redis.Redis.from_url(REDIS).flushdb()
        path = build_case_file(log_dir / f"cases-{args.cases}.jsonl", args.cases)
        fresh_database()
    for name, phase in phases:
        results[name] = phase()
        # Written after every phase, so a long run that is stopped keeps what it measured.
        write_results("scale", {"benchmark": "scale", "cases": args.cases, "arms": len(ARMS), "task_types": 13,
                                "targets": {"import_ratio": 3, "import_peak_rss_mb": 500,
                                            "responses_per_s_per_worker": 2000},
                                "results": results, "complete": len(results) == 5})


if __name__ == "__main__":
    main()
