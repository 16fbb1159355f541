"""The PostgreSQL databases the benchmarks build their studies in (each its own, kept
between runs unless rebuilt), and Django set up on one."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

PG = "postgres://postgres@127.0.0.1:5432"


def database_ready(name: str, *, rebuild: bool) -> None:
    """The database ``name`` exists: made if missing, dropped and made again with ``rebuild``."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (name,)).fetchone()
        if exists and rebuild:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
            exists = None
        if not exists:
            conn.execute(f"CREATE DATABASE {name}")


def django_on(name: str) -> None:
    """Django set up (the test settings) on the database ``name``."""
    os.environ["DATABASE_URL"] = f"{PG}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalportal.settings.test")
    import django

    django.setup()


def study_database(name: str, *, rebuild: bool, holds: Callable[[], bool], populate: Callable[[object], None],
                   what: str) -> None:
    """Django set up on the database ``name``, migrated, holding a benchmark's study
    (``what``, for the messages): kept from an earlier run where ``holds()`` says so,
    else written by ``populate(connection)`` and its statistics refreshed (``ANALYZE``),
    as after a real bulk load."""
    database_ready(name, rebuild=rebuild)
    django_on(name)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if holds():
        print(f"reusing {name}: {what}")
        return
    started = time.perf_counter()
    populate(connection)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"built {name} with {what} in {time.perf_counter() - started:.0f} s")
