"""Benchmark: the portal under gunicorn on PostgreSQL with 50 concurrent simulated
clinicians, in four phases on the same server in one run:

1. the rating flow: each clinician, logged in, fetches the next case, opens the rating
   page, saves a draft and submits, for ``--cases`` cases;
2. the rating page alone: each clinician reloads its next open case ``--page-requests``
   times;
3. a bare Django view (``/healthz``) as the ceiling, the same clients and requests;
4. for reference, the clinician's start page (``/rate/``), the cheapest signed-in page.

Phases 2-4 alternate in ``--rounds`` rounds, so that a slow spell of a shared machine
falls on all of them; the ratio is reported overall and per round.

Reports requests/s and p50/p95/p99 latency per endpoint and errors, and writes
bench/results/web.json. The clients are Python threads on the same machine as the
server, so on a small machine they take CPU from it; the bare view is measured with the
same clients, so the ratio is fair even where the absolute numbers are not.

    .venv/bin/python bench/web.py                         # 50 clients x 8 cases each
    .venv/bin/python bench/web.py --clients 20 --cases 4  # a quick look

Targets: the rating page at least half the bare view's throughput, p95 under
100 ms, no error.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DB_NAME = "evalportal_bench_web"
PG = "postgres://postgres@127.0.0.1:5432"
PASSWORD = "bench-clinician-pass-1"
PAGE_ALONE = "GET /rate/<id>/ (rating page alone)"
BARE = "GET /healthz (bare view)"
START_PAGE = "GET /rate/ (start page, reference)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict:
    return {**os.environ, "DATABASE_URL": f"{PG}/{DB_NAME}", "DJANGO_SECRET_KEY": "bench-secret-key",
            "DJANGO_SECURE_COOKIES": "0", "REDIS_URL": "redis://127.0.0.1:6379/13", "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "evalportal.settings.production", "DATABASE_CONN_MAX_AGE": "600",
            "AXES_FAILURE_LIMIT": "1000"}


def build(n_clients: int, cases_per_client: int) -> None:
    """A fresh database: one study, 3 arms, enough cases for every client's queue."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    script = f"""
import django; django.setup()
from django.contrib.auth.hashers import make_password
from annotations.models import ModelArm, Study, StudyArm, Case, Response
from annotations.services.cases import case_import
from annotations.services.demo import DEMO_CASES
from annotations.services.planner import assignments_plan
from annotations.services.users import user_create
import json
study = Study.objects.create(name="Web benchmark", slug="web", raters_per_item=1, status="open")
arms = [ModelArm.objects.create(name=n, method="baseline", base_model="demo") for n in ("A1", "A2", "A3")]
for i, arm in enumerate(arms):
    StudyArm.objects.create(study=study, arm=arm, position=i)
template = [json.loads(l) for l in DEMO_CASES.read_text().splitlines() if l.strip()]
cases = []
need = {n_clients} * {cases_per_client} + {n_clients}
lines = []
for n in range(need):
    case = dict(template[n % len(template)], external_id=f"web-{{n:05d}}", split="test")
    lines.append(json.dumps(case))
case_import(study=study, data="\\n".join(lines).encode())
rows = [Response(case=c, arm=a, text="Platelets fell by more than half on heparin: hold it and send a PF4 test. " * 3)
        for c in Case.objects.filter(study=study) for a in arms]
Response.objects.bulk_create(rows)
raters = [user_create(username=f"web-clin{{i:02d}}", password="{PASSWORD}", role="clinician") for i in range({n_clients})]
print(assignments_plan(study=study, raters=raters).message)
"""
    env = _env()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)
    _vacuum_analyze()


def _vacuum_analyze() -> None:
    """Statistics up to date and dead rows gone before a measured phase, as autovacuum
    keeps them in a running portal; otherwise autovacuum starts on the freshly filled
    tables in the middle of a phase (it halved the figures in some runs)."""
    import psycopg

    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        # per endpoint: HTTP status or the client's exception -> count
        self.statuses: dict[str, dict[int | str, int]] = defaultdict(lambda: defaultdict(int))

    def timed(self, name, call, *args, **kwargs):
        start = time.perf_counter()
        failure = None
        try:
            response = call(*args, **kwargs)
            if response.status_code >= 400:
                failure = response.status_code
        except requests.RequestException as exc:
            response, failure = None, f"{type(exc).__name__}: {exc}"[:200]
        elapsed = time.perf_counter() - start
        with self.lock:
            self.latencies[name].append(elapsed)
            if failure is not None:
                self.errors[name] += 1
                self.statuses[name][failure] += 1
        return response


def _csrf(session, html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return match.group(1) if match else session.cookies.get("csrftoken", "")


def _rubric_answers(html: str) -> dict:
    """Answers for every radio group on a rating page: the middle option of each."""
    groups = defaultdict(list)
    for name, value in re.findall(r'type="radio" name="([^"]+)" value="([^"]+)"', html):
        groups[name].append(value)
    return {name: values[len(values) // 2] for name, values in groups.items()}


def log_in(session: requests.Session, base: str, username: str) -> None:
    page = session.get(f"{base}/accounts/login/")
    session.post(f"{base}/accounts/login/", data={"username": username, "password": PASSWORD,
                                                  "csrfmiddlewaretoken": _csrf(session, page.text)},
                 headers={"Referer": f"{base}/accounts/login/"})


def clinician(session: requests.Session, base: str, cases: int, rec: Recorder, start_gate: threading.Barrier):
    """A signed-in clinician rating: next case, rating page, a draft, the submission."""
    start_gate.wait()
    for _ in range(cases):
        nxt = rec.timed("GET /rate/next/ (redirect)", session.get, f"{base}/rate/next/", allow_redirects=False)
        if nxt is None or not re.fullmatch(r"/rate/\d+/", nxt.headers.get("Location", "")):
            break
        url = base + nxt.headers["Location"]
        page = rec.timed("GET /rate/<id>/ (rating page)", session.get, url)
        if page is None or page.status_code != 200:
            continue
        token = _csrf(session, page.text)
        answers = _rubric_answers(page.text)
        half = dict(list(answers.items())[: len(answers) // 2])
        rec.timed("POST draft", session.post, f"{url}draft/", data={**half, "active_seconds": "5"},
                  headers={"X-CSRFToken": token, "Referer": url})
        rec.timed("POST submit", session.post, f"{url}submit/",
                  data={**answers, "csrfmiddlewaretoken": token, "active_seconds": "5"}, headers={"Referer": url},
                  allow_redirects=False)


def page_reloads(session: requests.Session, base: str, n: int, rec: Recorder, start_gate: threading.Barrier):
    """A clinician opening their current case again and again: the rating page alone."""
    nxt = session.get(f"{base}/rate/next/", allow_redirects=False)
    url = base + nxt.headers.get("Location", "/rate/next/")
    start_gate.wait()
    for _ in range(n):
        rec.timed(PAGE_ALONE, session.get, url)


def start_page(session: requests.Session, base: str, n: int, rec: Recorder, start_gate: threading.Barrier):
    """The clinician's start page: a session, the user, one count and a small template;
    the floor for any signed-in page."""
    start_gate.wait()
    for _ in range(n):
        rec.timed(START_PAGE, session.get, f"{base}/rate/")


def bare(session: requests.Session, base: str, n: int, rec: Recorder, start_gate: threading.Barrier):
    start_gate.wait()
    for _ in range(n):
        rec.timed(BARE, session.get, f"{base}/healthz")


def _summary(rec: Recorder, seconds: float) -> dict:
    out = {}
    for name, values in rec.latencies.items():
        ordered = sorted(values)
        q = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else [ordered[0]] * 99
        out[name] = {"requests": len(values), "errors": rec.errors.get(name, 0),
                     "error_statuses": dict(rec.statuses.get(name, {})),
                     "requests_per_s": round(len(values) / seconds, 1), "p50_ms": round(q[49] * 1000, 1),
                     "p95_ms": round(q[94] * 1000, 1), "p99_ms": round(q[98] * 1000, 1)}
    return out


def _merged(runs: list[tuple[Recorder, float]]) -> tuple[Recorder, float]:
    """One recorder and the summed wall time of several runs of a phase."""
    merged = Recorder()
    for rec, _ in runs:
        for name, values in rec.latencies.items():
            merged.latencies[name].extend(values)
            merged.errors[name] += rec.errors.get(name, 0)
            for status, count in rec.statuses.get(name, {}).items():
                merged.statuses[name][status] += count
    return merged, sum(seconds for _, seconds in runs)


def _requests_per_s(run: tuple[Recorder, float], endpoint: str) -> float:
    rec, seconds = run
    return len(rec.latencies[endpoint]) / seconds


def _run_phase(target, sessions, base: str, n: int) -> tuple[Recorder, float]:
    """Every client runs target n times once all are ready; returns the recorder and the
    wall time of the phase."""
    rec = Recorder()
    gate = threading.Barrier(len(sessions) + 1)
    threads = [threading.Thread(target=target, args=(s, base, n, rec, gate)) for s in sessions]
    for t in threads:
        t.start()
    gate.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return rec, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--cases", type=int, default=8, help="cases each clinician rates")
    parser.add_argument("--page-requests", type=int, default=40,
                        help="requests per client in the rating-page-alone, bare-view and start-page phases")
    parser.add_argument("--rounds", type=int, default=5,
                        help="the rating-page-alone, bare-view and start-page phases alternate this many times")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    build(args.clients, args.cases)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "evalportal.wsgi", "-b", f"127.0.0.1:{port}",
                               "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
                               "--log-level", "warning"], cwd=ROOT, env=_env())
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        results = {}
        sessions = [requests.Session() for _ in range(args.clients)]
        # Everyone logs in first: password hashing is not what is measured.
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(log_in, sessions, repeat(base), [f"web-clin{i:02d}" for i in range(args.clients)]))
        # Phase 1: clinicians rating (next case, rating page, draft, submit).
        rec, rating_seconds = _run_phase(clinician, sessions, base, args.cases)
        results["rating"] = _summary(rec, rating_seconds)
        results["rating_total_requests_per_s"] = round(sum(len(v) for v in rec.latencies.values()) / rating_seconds, 1)
        _vacuum_analyze()
        # Phases 2-4 alternate in rounds, so that a slow spell of this shared machine falls
        # on all three rather than on one: the rating page alone (each client reloading its
        # next open case), the bare view (same clients, same server, same number of
        # requests) and, for reference, the cheapest signed-in page.
        phases = {"page": page_reloads, "bare": bare, "start_page": start_page}
        runs = {key: [] for key in phases}
        for _ in range(args.rounds):
            for key, target in phases.items():
                runs[key].append(_run_phase(target, sessions, base, max(1, args.page_requests // args.rounds)))
        for key in phases:
            results[key] = _summary(*_merged(runs[key]))
    finally:
        server.terminate()
        server.wait(timeout=30)

    page, ceiling = results["page"][PAGE_ALONE], results["bare"][BARE]
    # All measured alone, with the same clients and number of requests.
    results["ratio_rating_page_to_bare"] = round(page["requests_per_s"] / ceiling["requests_per_s"], 3)
    results["ratio_start_page_to_bare"] = round(
        results["start_page"][START_PAGE]["requests_per_s"] / ceiling["requests_per_s"], 3)
    results["ratio_rating_page_to_bare_per_round"] = [
        round(_requests_per_s(page_run, PAGE_ALONE) / _requests_per_s(bare_run, BARE), 3)
        for page_run, bare_run in zip(runs["page"], runs["bare"], strict=True)]
    for name, r in {**results["rating"], **results["page"], **results["bare"], **results["start_page"]}.items():
        print(f"{name:34} {r['requests']:6} req {r['requests_per_s']:8.1f}/s  p50 {r['p50_ms']:7.1f} ms  "
              f"p95 {r['p95_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  errors {r['errors']}")
    print(f"rating flow, all endpoints: {results['rating_total_requests_per_s']} req/s; "
          f"rating page / bare view throughput ({args.clients} clients each): "
          f"{results['ratio_rating_page_to_bare']} (per round: {results['ratio_rating_page_to_bare_per_round']}); "
          f"start page / bare view: {results['ratio_start_page_to_bare']}")
    from bench.results_file import write_results

    write_results("web", {"benchmark": "web", "clients": args.clients, "cases_per_client": args.cases,
                          "rounds": args.rounds, "gunicorn": {"workers": args.workers, "threads": args.threads},
                          "targets": {"ratio": 0.5, "p95_ms": 100, "errors": 0}, "results": results})


if __name__ == "__main__":
    main()
