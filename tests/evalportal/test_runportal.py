"""`make run`'s last step: embedded Redis, the two Celery workers (short work; training
and generation) and the web server start, each worker answers on its own queues, and
Ctrl-C (SIGINT) or `kill` (SIGTERM) stops every child. A recompute finishes while the
gpu worker is held by a generation job."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from modeling.generate import GenerationResult

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.worker, pytest.mark.slow]
WORKER_QUEUES = {"short": ["default"], "gpu": ["endpoint", "gpu"]}
QUEUES_BY_WORKER = ("import json; from evalportal.celery import app; "
                    "print(json.dumps({host: sorted(q['name'] for q in queues) for host, queues in "
                    "(app.control.inspect(timeout=3).active_queues() or {}).items()}))")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _http_ok(url) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except OSError:
        return False


def _kill_left_over(portal: subprocess.Popen) -> None:
    """A portal a failed test left running goes, with every child it started."""
    if portal.poll() is None:
        for child in psutil.Process(portal.pid).children(recursive=True):
            child.kill()
        portal.kill()


def _by_name(queues_by_host: dict) -> dict:
    """{"short": [...], "gpu": [...]} from Celery's {"short@host": [...], ...}."""
    return {host.split("@")[0]: queues for host, queues in queues_by_host.items()}


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_runportal_serves_pings_the_worker_and_stops_cleanly(tmp_path, stop_signal):
    web_port, redis_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    # The defaults of a fresh clone: no var/ folder yet, the SQLite database inside it.
    var_dir = tmp_path / "var"
    env.update(DJANGO_DEBUG="1", EVALPORTAL_VAR_DIR=str(var_dir), EMBEDDED_REDIS_PORT=str(redis_port),
               PYTHONUNBUFFERED="1")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True, timeout=300)
    assert (var_dir / "evalportal.sqlite3").is_file()
    log = open(tmp_path / "runportal.log", "w")
    portal = subprocess.Popen([*manage, "runportal", "--addr", f"127.0.0.1:{web_port}"], env=env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: _http_ok(f"http://127.0.0.1:{web_port}/healthz"), 120, "the web server")
        children = psutil.Process(portal.pid).children(recursive=True)
        assert len(children) >= 4  # redis-server, the two celery workers, runserver
        shell = [*manage, "shell", "-c", QUEUES_BY_WORKER]
        shell_env = {**env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
        for _ in range(20):  # the workers may still be connecting
            answer = subprocess.run(shell, env=shell_env, cwd=ROOT, capture_output=True, text=True, timeout=120)
            lines = answer.stdout.strip().splitlines()
            if lines and len(json.loads(lines[-1])) == len(WORKER_QUEUES):
                break
            time.sleep(2)
        assert lines, answer.stderr
        assert _by_name(json.loads(lines[-1])) == WORKER_QUEUES, answer.stdout + answer.stderr
        login = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/accounts/login/", timeout=5)
        assert b"Log in" in login.read()

        portal.send_signal(stop_signal)
        portal.wait(timeout=60)
        _wait_for(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children),
                  30, "the children to stop")
        assert not _http_ok(f"http://127.0.0.1:{web_port}/healthz")
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", redis_port)) != 0
        assert "Stopped." in (tmp_path / "runportal.log").read_text()
    finally:
        _kill_left_over(portal)
        log.close()


class HeldEngine:
    """Answers every case once the file HELD_ENGINE_RELEASE names exists: a generation
    job that holds its worker for as long as the test wants."""

    def generate_iter(self, items, progress=None, should_stop=None, *, arm=None, fewshot_pool=None,
                      on_lasting_failure=None):
        release = Path(os.environ["HELD_ENGINE_RELEASE"])
        while not release.exists():
            time.sleep(0.2)
        yield [GenerationResult(key=item["external_id"], text="Held, then answered.", raw_text="",
                                predicted_behavior="", prompt_tokens=1, completion_tokens=1, latency_s=0.0)
               for item in items]


def held_engine(job):
    return HeldEngine(), {"engine": "held (tests/evalportal/test_runportal.py)"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_recompute_finishes_while_the_gpu_worker_trains_or_generates(tmp_path, rated_submissions):
    """The demo's trainings held `make run`'s one worker for half an hour, and the
    dashboard's recompute waited behind them: now the short worker takes it at once."""
    from annotations.models import GenerationJob, JobStatus, StudyAnalysis
    from annotations.services.aggregation import aggregation_request
    from annotations.services.generation import generation_job_queue
    from evalportal.celery import app
    from tests.annotations.worker_helpers import database_url_of_test_db, flush_test_broker, wait_until

    study = rated_submissions
    flush_test_broker()  # the recomputes the fixture's submissions asked for
    StudyAnalysis.objects.filter(study=study).delete()
    release = tmp_path / "release"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "evalportal.settings.test", "DATABASE_URL": database_url_of_test_db(),
           "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"), "PYTHONUNBUFFERED": "1",
           "EVALPORTAL_GENERATION_ENGINE": "tests.evalportal.test_runportal.held_engine",
           "HELD_ENGINE_RELEASE": str(release)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = open(tmp_path / "runportal.log", "w")
    portal = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runportal", "--addr",
                               f"127.0.0.1:{_free_port()}"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        def both_workers() -> dict | None:
            answers = app.control.inspect(timeout=1).active_queues() or {}
            return (_by_name({host: sorted(q["name"] for q in queues) for host, queues in answers.items()})
                    if len(answers) == len(WORKER_QUEUES) else None)

        assert wait_until(both_workers, 120, "both workers", interval=1) == WORKER_QUEUES

        job = generation_job_queue(study=study, arm=study.study_arms.first().arm)
        chunk = wait_until(lambda: job.chunks.filter(status=JobStatus.RUNNING).first(), 60, "the gpu worker to take it")
        assert chunk.worker.startswith("gpu@")

        assert aggregation_request(study_id=study.pk, countdown=0)  # the dashboard's "Recompute now"
        analysis = wait_until(lambda: StudyAnalysis.objects.filter(study=study, computed_at__isnull=False).first(),
                              90, "the recompute")
        assert analysis.error == "" and analysis.n_ratings > 0, analysis.error
        assert GenerationJob.objects.get(pk=job.pk).status == JobStatus.RUNNING  # still held

        release.touch()
        wait_until(lambda: GenerationJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, 60, "the job's end")
        portal.send_signal(signal.SIGINT)
        portal.wait(timeout=60)
    finally:
        _kill_left_over(portal)
        log.close()
        flush_test_broker()
