"""Benchmark: a study written as a Hugging Face dataset (``manage.py export_hf``'s code,
``annotations/hf_dataset.py``), rows per second and peak memory.

Builds (once per size; ``--rebuild`` to redo) a PostgreSQL database with the export
benchmark's study (bench/export.py: 20,000 cases, 3 arms, 60,000 responses, 50 raters and
submitted assignments for the asked number of ratings, every screen ranked), then, for
each size, a fresh process writes the whole dataset (every split, save_to_disk, the
Parquet shards and the card) and reports its seconds per step, the rows written per
second, and its peak RSS and peak anonymous memory (sampled every 20 ms) over what it had
before it began (RSS also counts the pages of the memory-mapped Arrow files read back).
Memory that does not grow with the ratings is what the generators buy. Writes
bench/results/hf_export.json.

    .venv/bin/python bench/hf_export.py                                   # 100,000 and 300,000 ratings
    .venv/bin/python bench/hf_export.py --ratings 100000 300000 1000000   # as recorded
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
from bench import export as export_bench  # noqa: E402
from bench.databases import PG, study_database  # noqa: E402

DB_PREFIX = "evalportal_bench_hf"

CHILD = r"""
import json, os, sys, tempfile, threading, time
from pathlib import Path
import psutil
sys.path.insert(0, os.environ["ROOT"])
import django
django.setup()
from annotations.hf_dataset import dataset_write
from annotations.models import Study
study = Study.objects.get(slug="bench")
process = psutil.Process()

def anon_mb():
    # Anonymous memory only: the Arrow files the splits are read back from are mapped, and
    # their pages count in RSS while the kernel may drop them at any time.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:")) / 1024

rss0, anon0 = process.memory_info().rss / 2**20, anon_mb()
peak, peak_anon, stop = [rss0], [anon0], threading.Event()

def sample():
    while not stop.wait(0.02):
        peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        peak_anon[0] = max(peak_anon[0], anon_mb())

threading.Thread(target=sample, daemon=True).start()
steps, last = [], [time.perf_counter()]

def progress(done, total):
    now = time.perf_counter()
    steps.append(round(now - last[0], 2))
    last[0] = now
    return False

with tempfile.TemporaryDirectory(prefix="bench-hf-") as folder:
    start = time.perf_counter()
    written = dataset_write(study, out=Path(folder) / "dataset", license_id="cc-by-4.0", progress=progress)
    seconds = time.perf_counter() - start
    stop.set()
    size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "rows": written.rows, "step_seconds": steps, "bytes_on_disk": size,
                  "rss_before_mb": round(rss0, 1), "peak_rss_mb": round(peak[0], 1),
                  "anon_before_mb": round(anon0, 1), "peak_anon_mb": round(peak_anon[0], 1)}))
"""
STEPS = ("cases", "responses", "ratings", "pairwise_preferences", "dpo_pairs", "harms", "save_to_disk",
         "parquet_and_card")


def build(ratings: int, rebuild: bool) -> None:
    """bench/export.py's study in a database of its own, each size in its own."""
    def populate(connection) -> None:
        export_bench._populate(connection, ratings)
        _readings_store()

    export_bench.DB_NAME = f"{DB_PREFIX}_{ratings}"
    study_database(export_bench.DB_NAME, rebuild=rebuild, holds=lambda: export_bench.rating_count() == ratings,
                   populate=populate, what=f"{ratings:,} ratings")


def _readings_store() -> None:
    """Every response's stored reading, as the portal stores it when it writes a response
    (every response of the benchmark's study is the same text to the same kind of case,
    so one is read and its reading copied): without it the ratings split would read each
    response with ConText, which no study written by the portal needs."""
    from annotations.models import Response
    from annotations.services.responses import _score

    first = Response.objects.order_by("id").first()
    _score([first])
    Response.objects.update(reading=first.reading, correct=first.correct)


def measure(ratings: int, rebuild: bool) -> dict:
    # Django is set up once per process, on one database: each size is built by a process of its own.
    subprocess.run([sys.executable, __file__, "--build", str(ratings), *(["--rebuild"] if rebuild else [])],
                   check=True)
    export_bench.DB_NAME = f"{DB_PREFIX}_{ratings}"
    env = {**os.environ, "DATABASE_URL": f"{PG}/{export_bench.DB_NAME}",
           "DJANGO_SETTINGS_MODULE": "evalportal.settings.test", "ROOT": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    total = sum(result["rows"].values())
    result["rows_total"] = total
    result["rows_per_s"] = round(total / result["seconds"])
    result["step_seconds"] = dict(zip(STEPS, result["step_seconds"]))
    result["rss_growth_mb"] = round(result["peak_rss_mb"] - result["rss_before_mb"], 1)
    result["anon_growth_mb"] = round(result["peak_anon_mb"] - result["anon_before_mb"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.rebuild)
        return
    results = {}
    for ratings in args.ratings:
        r = results[str(ratings)] = measure(ratings, args.rebuild)
        print(f"{ratings:>9,} ratings: {r['rows_total']:>9,} rows in {r['seconds']:6.1f} s = {r['rows_per_s']:>7,} "
              f"rows/s; {r['bytes_on_disk'] / 2**20:7.1f} MiB on disk; peak RSS {r['peak_rss_mb']:.0f} MB "
              f"(+{r['rss_growth_mb']:.0f} MB over {r['rss_before_mb']:.0f} MB at the start; anonymous +{r['anon_growth_mb']:.0f} MB); "
              f"steps {r['step_seconds']}")
    from bench.results_file import write_results

    write_results("hf_export", {"benchmark": "hf_export", "ratings": args.ratings, "cases": 20_000,
                                "responses": 60_000, "results": results})


if __name__ == "__main__":
    main()
