"""A real Celery worker process against the local Redis and the test database; and a
generation job's chunks run in the test process, as a worker would run them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import redis
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
# This pytest-xdist worker's own Redis database (evalportal/settings/test.py).
TEST_REDIS_URL = django_settings.REDIS_URL


def database_url_of_test_db() -> str:
    settings = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("worker tests need PostgreSQL (a worker process cannot see an in-memory test database)")
    user = settings.get("USER") or "postgres"
    auth = f"{user}:{settings['PASSWORD']}" if settings.get("PASSWORD") else user
    return f"postgres://{auth}@{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{settings['NAME']}"


def _broker_of(log: str) -> tuple | None:
    """(host, port, database) of the broker a worker's start banner names."""
    found = re.search(r"transport:\s+(\S+)", log)
    url = urlsplit(found.group(1)) if found else None
    return url and (url.hostname, url.port, url.path)


def flush_test_broker() -> None:
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()


class WorkerProcess:
    def __init__(self, log_dir: Path, visibility_timeout: int = 6):
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        # REDIS_URL and PYTEST_XDIST_WORKER are inherited as they are: the test settings
        # derive this xdist worker's Redis database from them, in the worker as here.
        env = {**os.environ, "DATABASE_URL": database_url_of_test_db(),
               "DJANGO_SETTINGS_MODULE": "evalportal.settings.test", "PYTHONUNBUFFERED": "1",
               "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout), "CELERY_UNACKED_RESTORE_INTERVAL": "1",
               "CELERY_UNACKED_RESTORE_THROTTLE": "1"}
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "evalportal", "worker", "-Q", "default,gpu,endpoint", "-c", "1",
             "--pool", "solo", "-n", self.name, "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log_path.read_text()
            if "ready." in log:
                if _broker_of(log) != _broker_of(f"transport: {TEST_REDIS_URL}"):
                    raise RuntimeError(f"worker is not on this test's broker {TEST_REDIS_URL}: {self.log()}")
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log()}")
            time.sleep(0.3)
        raise TimeoutError(f"worker not ready: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory killer or a pulled plug would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the worker and what it started (resumed first, should a test have paused it
        with SIGSTOP, since a stopped process takes no SIGTERM)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


@contextmanager
def started_workers(log_dir: Path):
    """``start(**options)`` starts a real worker (:class:`WorkerProcess`) and waits until
    it is ready; at the block's end every worker started is stopped. The test broker is
    flushed before and after."""
    flush_test_broker()
    started: list[WorkerProcess] = []

    def start(**options) -> WorkerProcess:
        worker = WorkerProcess(log_dir, **options)
        started.append(worker)
        worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        flush_test_broker()


def wait_until(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def run_generation_chunks(job, worker: str = "cpu@host") -> list[str]:
    """Run each chunk of a generation job here, in order; what happened to each."""
    from annotations.services.generation import generation_chunk_run

    return [generation_chunk_run(chunk_id=c.pk, worker=worker) for c in job.chunks.order_by("index")]


@contextmanager
def redis_down():
    """The Celery app's broker pointed at a port nothing listens on, for the block."""
    from evalportal.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        yield
    finally:
        app.conf.broker_url = original
