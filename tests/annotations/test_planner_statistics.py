"""After a bulk load (a big case import, a big generation job) the planner's statistics of
the table are refreshed: with the stale ones PostgreSQL took the loaded table for empty
and the responses page's text search over 16,000 responses took 162 s instead of 0.05 s."""

from __future__ import annotations

import pytest
from django.db import connection

from annotations.models import Case, ModelArm, Response
from annotations.services import generation
from annotations.services.cases import case_import
from tests.annotations.worker_helpers import run_generation_chunks
from tests.chat_server import FakeChatModel
from tests.factories import CaseFactory, StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _planner_rows(model) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [model._meta.db_table])
        return cursor.fetchone()[0]


@pytest.fixture
def small_bulk(postgresql, monkeypatch):
    monkeypatch.setattr("evalportal.sql.BULK_LOAD_ROWS", 2)


def test_a_bulk_case_import_refreshes_the_case_table_statistics(small_bulk, example_cases_bytes):
    study = StudyFactory()
    case_import(study=study, data=example_cases_bytes)
    assert Case.objects.count() >= 2
    assert _planner_rows(Case) == Case.objects.count()


def test_a_big_generation_job_refreshes_the_response_table_statistics(small_bulk, settings,
                                                                       django_capture_on_commit_callbacks):
    study = StudyFactory()
    with FakeChatModel() as server:
        arm = ModelArm.objects.create(name="Served", method="baseline", endpoint_url=server.base_url,
                                      served_model="m")
        StudyArmFactory(study=study, arm=arm)
        for n in range(6):
            CaseFactory(study=study, external_id=f"bulk-{n}")
        job = generation.generation_job_queue(study=study, arm=arm)
        # The refresh runs once the last chunk's transaction commits (in a worker, at once).
        with django_capture_on_commit_callbacks(execute=True):
            assert run_generation_chunks(job) == ["succeeded"]
    assert _planner_rows(Response) == Response.objects.count() == 6


def _response_rows_fetched() -> int:
    """Rows of the response table this transaction has read through an index so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = %s",
                       [Response._meta.db_table])
        return cursor.fetchone()[0]


def test_a_chunk_reads_only_its_own_cases_responses_while_the_statistics_lag(postgresql, settings):
    """While a job writes fast, the statistics still count its job and arm as rare. A chunk
    that filtered on either let the planner take that column's index and read everything
    the job had written so far, each chunk slower than the last (at 150,000 cases the
    last chunks took twice as long as the first)."""
    settings.JOB_CHUNK_CASES = 200
    study = StudyFactory()
    cases = Case.objects.bulk_create([CaseFactory.build(study=study, external_id=f"lag-{n:04d}")
                                      for n in range(1200)])
    earlier = ModelArm.objects.create(name="Earlier", method="baseline", base_model="demo")
    Response.objects.bulk_create([Response(case=case, arm=earlier, text="Earlier answer.") for case in cases])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Response._meta.db_table}")  # what the planner knows: no other arm, no job
    with FakeChatModel() as server:
        arm = ModelArm.objects.create(name="Served", method="baseline", endpoint_url=server.base_url,
                                      served_model="m")
        StudyArmFactory(study=study, arm=arm)
        job = generation.generation_job_queue(study=study, arm=arm)
        chunks = list(job.chunks.order_by("index"))
        # What the job's first five chunks wrote, faster than the statistics were refreshed.
        Response.objects.bulk_create([Response(case=case, arm=arm, job=job, text="Written.")
                                      for case in cases if case.pk <= chunks[-2].last_case_id])
        before = _response_rows_fetched()
        assert generation.generation_chunk_run(chunk_id=chunks[-1].pk, worker="cpu@host") == "succeeded"
        fetched = _response_rows_fetched() - before
    assert Response.objects.filter(job=job).count() == 1200
    # Its own 200 cases had one response each (the earlier arm's), read once to skip what
    # the job wrote and once to skip duplicates: about 400 rows, not the job's 1,000 others.
    assert fetched < 1000
