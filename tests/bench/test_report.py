"""bench/report.py on a temporary results folder: a file written by today's
bench/results_file.py (with ``recorded_at`` and the machine) and an older one without
``recorded_at``, dated by the git commit that added it."""

import json
import os
import subprocess

from bench.report import build_report, write_report

EXPORT = {
    "benchmark": "export", "recorded_at": "2031-03-04T05:06:07+00:00",
    "command": ".venv/bin/python bench/export.py --ratings 5000", "git_commit": "0123456789abcdef0123",
    "git_dirty": False,
    "machine": {"platform": "Linux-test-x86_64", "cpu_count": 16, "cpu_model": "Test CPU 9000", "memory_gib": 125.7,
                "gpu": "NVIDIA H200"},
    "ratings": 5000, "targets": {"rows_per_s": 100_000, "peak_rss_mb": 300},
    "results": {"csv": {"seconds": 0.04, "bytes": 2_097_152, "lines": 5001, "rss_before_mb": 70.2,
                        "peak_rss_mb": 212.6, "rows": 5000, "rows_per_s": 123_456}},
}
WEB = {  # the older layout: no recorded_at, the platform string as "machine"
    "benchmark": "web", "clients": 4, "cases_per_client": 2, "rounds": 1, "gunicorn": {"workers": 3, "threads": 4},
    "machine": "Linux-older-box", "cpus": 1, "targets": {"ratio": 0.5, "p95_ms": 100, "errors": 0},
    "results": {
        "rating": {"POST submit": {"requests": 8, "errors": 0, "requests_per_s": 12.5, "p50_ms": 30.1,
                                   "p95_ms": 44.4, "p99_ms": 50.0}},
        "rating_total_requests_per_s": 48.2,
        "page": {"GET /rate/<id>/ (rating page alone)": {"requests": 40, "errors": 0, "requests_per_s": 222.2,
                                                         "p50_ms": 17.5, "p95_ms": 36.8, "p99_ms": 47.0}},
        "bare": {"GET /healthz (bare view)": {"requests": 40, "errors": 0, "requests_per_s": 444.4,
                                              "p50_ms": 6.6, "p95_ms": 23.2, "p99_ms": 32.4}},
        "start_page": {},
        "ratio_rating_page_to_bare": 0.5, "ratio_start_page_to_bare": 0.75, "ratio_rating_page_to_bare_per_round": [0.5],
    },
}


def _git(*args, cwd, date="2030-01-02T03:04:05+00:00"):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_report_dates_machines_and_figures(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "export.json").write_text(json.dumps(EXPORT))
    (results / "web.json").write_text(json.dumps(WEB))
    _git("init", "-q", cwd=tmp_path)
    _git("add", "results/web.json", cwd=tmp_path)
    _git("commit", "-q", "-m", "web figures", cwd=tmp_path)

    out = write_report(results, tmp_path / "RESULTS.md")
    markdown = out.read_text()
    assert markdown == build_report(results)
    export, web = markdown.split("## export")[1].split("## web")
    # export: its own recorded_at, the machine it recorded, the command, the figures
    assert export.startswith(" (2031-03-04)")
    assert "2031-03-04 05:06 UTC" in export
    assert "Linux-test-x86_64; 16 CPUs (Test CPU 9000); 125.7 GiB memory; GPU: NVIDIA H200" in export
    assert "`.venv/bin/python bench/export.py --ratings 5000`" in export and "`0123456789ab`" in export
    assert "at least 100,000 rows/s; peak RSS under 300 MB" in export
    assert "| csv | 5,000 | 0.0 | 123,456 | 213 | 70 | 2.0 |" in export
    assert "Export 1,000,000 ratings" in export  # the script's docstring
    # web: dated by the commit that added the file, the older machine fields, a rebuilt command
    assert web.startswith(" (2030-01-02)") and "the file's last commit" in web
    assert "Linux-older-box; 1 CPU\n" in web
    assert "`.venv/bin/python bench/web.py --clients 4 --cases 2 --rounds 1` (reconstructed" in web
    assert "| rating page alone | `GET /rate/<id>/ (rating page alone)` | 40 | 222.2 | 17.5 | 36.8 | 47.0 | 0 | 0.500 |" \
        in web
    assert "| bare view | `GET /healthz (bare view)` | 40 | 444.4 | 6.6 | 23.2 | 32.4 | 0 | 1 |" in web
    assert "Rating flow, all endpoints: 48.2 req/s" in web


def test_the_scale_benchmark_lists_each_phase_s_figures_and_says_when_it_stopped_early(tmp_path):
    scale = {"benchmark": "scale", "recorded_at": "2031-03-04T05:06:07+00:00", "command": "bench/scale.py",
             "machine": {"platform": "Linux-test", "cpu_count": 2}, "cases": 150000, "arms": 5, "task_types": 13,
             "targets": {"import_ratio": 3, "responses_per_s_per_worker": 2000}, "complete": False,
             "results": {"import": {"ratio": 2.71, "peak_rss_mb": 202},
                         "generation": {"2_workers": {"responses": 600000, "statuses": ["succeeded"]}}}}
    results = tmp_path / "results"
    results.mkdir()
    (results / "scale.json").write_text(json.dumps(scale))
    markdown = build_report(results)
    assert "Setting: 150,000 cases in 13 task types x 5 arms" in markdown
    assert "Incomplete: the run stopped after the phases shown" in markdown
    assert "import at most 3x a raw COPY; at least 2,000 responses written per second per worker" in markdown
    assert "| import | ratio | 2.71 |" in markdown and "| import | peak_rss_mb | 202 |" in markdown
    assert "| generation | 2_workers / responses | 600,000 |" in markdown
    assert "| generation | 2_workers / statuses | succeeded |" in markdown
