"""A generation job over listed cases works up to MAX_LISTED_CASES on PostgreSQL (whose
queries hold at most 65,535 parameters), in the API, on the jobs page and in a worker's
chunk; more is refused with a clear message and leaves nothing, wherever it comes from;
the API's schema states the same bound."""

from __future__ import annotations

import pytest

from annotations.errors import InvalidRequest
from annotations.models import Case, GenerationJob, JobStatus, Response
from annotations.models.jobs import MAX_LISTED_CASES
from annotations.services.generation import generation_chunk_run, generation_job_queue
from tests.factories import StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.usefixtures("postgresql", "clean_broker")]

STAND_IN = "bench.stand_in.stand_in_engine"  # canned answers: what is tested is the portal's part


@pytest.fixture
def big_study():
    """A study with one case more than a job may list, and an arm."""
    study = StudyFactory(slug="big")
    Case.objects.bulk_create(
        [Case(study=study, external_id=f"big-{n}", task="omission_detection", category="proactive", split="test",
              turns=[{"speaker": "Dr. A", "role": "attending", "text": f"Plan {n}: continue."}],
              gold_behavior="proactive", label_space=["flag", "no_flag"], gold_label="flag",
              content_hash=f"{n:064d}") for n in range(MAX_LISTED_CASES + 1)], batch_size=5000)
    return study, StudyArmFactory(study=study).arm


def _listed(n: int) -> list[str]:
    return [f"big-{i}" for i in range(n)]


def test_a_job_over_the_most_cases_a_job_may_list_is_queued_by_the_api_and_the_page_and_its_chunks_run(
        big_study, admin_client_, settings, django_capture_on_commit_callbacks):
    study, arm = big_study
    settings.EVALPORTAL_GENERATION_ENGINE = STAND_IN
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post("/api/generation-jobs/", {"study": "big", "arm": arm.pk,
                                                                "cases": _listed(MAX_LISTED_CASES)},
                                      content_type="application/json")
    assert response.status_code == 201, response.content[:500]
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.progress_total == MAX_LISTED_CASES and len(job.selection["case_ids"]) == MAX_LISTED_CASES
    chunks = list(job.chunks.order_by("index"))
    assert sum(c.units for c in chunks) == MAX_LISTED_CASES
    last = chunks[-1]  # a chunk's cases are read as a worker reads them
    assert generation_chunk_run(chunk_id=last.pk, worker="cpu@host") == "succeeded"
    written = set(Response.objects.filter(job=job).values_list("case__external_id", flat=True))
    assert len(written) == last.units and "big-49999" in written and "big-50000" not in written

    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client_.post("/studies/big/jobs/generation/", {
            "arm": arm.pk, "max_new_tokens": 16, "cases": "\n".join(_listed(MAX_LISTED_CASES))}, follow=True)
    assert f"({MAX_LISTED_CASES} cases)" in page.content.decode()
    assert GenerationJob.objects.exclude(pk=job.pk).get().status == JobStatus.QUEUED


@pytest.mark.parametrize("n", [MAX_LISTED_CASES + 1, 70_000])  # 70,000 once reached the database and failed there
def test_more_cases_than_a_job_may_list_are_refused_wherever_they_come_from(n, admin_client_):
    study = StudyFactory(slug="big")
    arm = StudyArmFactory(study=study).arm
    response = admin_client_.post("/api/generation-jobs/", {"study": "big", "arm": arm.pk, "cases": _listed(n)},
                                  content_type="application/json")
    assert response.status_code == 400, response.content[:500]
    assert response.json()["cases"] == [f"Ensure this field has no more than {MAX_LISTED_CASES} elements."]
    page = admin_client_.post("/studies/big/jobs/generation/", {
        "arm": arm.pk, "max_new_tokens": 16, "cases": "\n".join(_listed(n))})
    assert page.status_code == 400
    assert f"{n:,} cases listed; a job lists at most {MAX_LISTED_CASES:,}" in page.content.decode()
    with pytest.raises(InvalidRequest, match=f"{n:,} cases listed; a job lists at most {MAX_LISTED_CASES:,}"):
        generation_job_queue(study=study, arm=arm, cases=[Case(pk=i + 1, study=study) for i in range(n)])
    assert not GenerationJob.objects.exists()


def test_the_api_schema_states_the_bound(researcher_client):
    schema = researcher_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["components"]["schemas"]["QueueGeneration"]["properties"]["cases"]["maxItems"] == MAX_LISTED_CASES
