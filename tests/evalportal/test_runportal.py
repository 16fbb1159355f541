"""`make run`'s last step: embedded Redis, a Celery worker and the web server start, a
worker ping from `manage.py shell` answers, and Ctrl-C (SIGINT) or `kill` (SIGTERM)
stops every child."""

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

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.worker, pytest.mark.slow]


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
        assert len(children) >= 3  # redis-server, celery worker, runserver
        ping = subprocess.run(
            [*manage, "shell", "-c", "from evalportal.celery import app; print(app.control.ping(timeout=3))"],
            env={**env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}, cwd=ROOT, capture_output=True,
            text=True, timeout=120)
        for _ in range(20):  # the worker may still be connecting
            if "pong" in ping.stdout:
                break
            time.sleep(2)
            ping = subprocess.run(ping.args, env={**env, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"},
                                  cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert "'ok': 'pong'" in ping.stdout, ping.stdout + ping.stderr
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
        if portal.poll() is None:
            for child in psutil.Process(portal.pid).children(recursive=True):
                child.kill()
            portal.kill()
        log.close()
