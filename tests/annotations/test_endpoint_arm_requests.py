"""An endpoint arm's requests: its timeout and retries set at registration (the API and
its bounds), used by the worker's engine; a generation job against a server that answers
one request at a time keeps what came back, fails its chunk naming the prompts that got
none, and a retry with the arm's longer timeout asks only those."""

from __future__ import annotations

import pytest

from annotations.models import GenerationChunk, GenerationFailure, GenerationJob, JobStatus, ModelArm, Response
from annotations.services import generation
from annotations.services.jobs import job_retry
from annotations.worker_runtime import endpoint_engine
from tests.annotations.worker_helpers import run_generation_chunks
from tests.chat_server import FakeChatModel
from tests.factories import CaseFactory, StudyArmFactory, StudyFactory, endpoint_arm_study

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]

ARM = {"name": "Served on llama.cpp", "method": "baseline", "endpoint_url": "http://127.0.0.1:9/v1",
       "served_model": "smollm2", "max_concurrency": 4}


def test_an_arms_timeout_and_retries_are_set_at_registration_within_their_bounds(admin_client_, settings):
    answer = admin_client_.post("/api/arms/", {**ARM, "request_timeout_s": 900, "max_retries": 0},
                                content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["request_timeout_s"] == 900.0 and answer.json()["max_retries"] == 0
    for wrong in ({"request_timeout_s": 0.5}, {"request_timeout_s": 99999}, {"max_retries": 11}):
        refused = admin_client_.post("/api/arms/", {**ARM, "name": "Other", **wrong}, content_type="application/json")
        assert refused.status_code == 400 and next(iter(wrong)) in refused.json()
    unset = admin_client_.post("/api/arms/", {**ARM, "name": "Defaults"}, content_type="application/json").json()
    assert unset["request_timeout_s"] is None and unset["max_retries"] is None

    settings.EVALPORTAL_ENDPOINT_TIMEOUT_S, settings.EVALPORTAL_ENDPOINT_MAX_RETRIES = 120.0, 5
    study = StudyFactory()
    for name, expected in (("Served on llama.cpp", (900.0, 0)), ("Defaults", (120.0, 5))):
        arm = ModelArm.objects.get(name=name)
        StudyArmFactory(study=study, arm=arm)
        engine, _ = endpoint_engine(GenerationJob(study=study, arm=arm, seed=0))
        assert (engine.timeout, engine.max_retries, engine.concurrency) == (*expected, 4)
        assert (engine.client.timeout, engine.client.max_retries) == expected


def test_a_one_at_a_time_server_fails_only_the_prompts_that_timed_out_and_a_retry_asks_only_those(admin_user):
    with FakeChatModel() as server:
        server.serial, server.answer_s, server.system_fingerprint = True, 0.6, False
        study, arm = endpoint_arm_study(server.base_url, slug="served-serially", cases=4, case_prefix="ser",
                                        name="Serial", served_model="smollm2", max_concurrency=4,
                                        request_timeout_s=1.5, max_retries=0)
        job = generation.generation_job_queue(study=study, arm=arm)
        assert run_generation_chunks(job) == ["failed"]
        job.refresh_from_db()
        kept = Response.objects.filter(job=job).count()
        assert 0 < kept < 4 and job.progress_done == kept
        assert f"{4 - kept} of 4 prompts got no answer (ser-" in job.error and "timed out" in job.error
        assert all(r.finish_reason == "stop" for r in Response.objects.filter(job=job))

        ModelArm.objects.filter(pk=arm.pk).update(request_timeout_s=30.0)
        asked = len(server.requests)
        job_retry(job=job, actor=admin_user)
        assert run_generation_chunks(job) == ["succeeded"]
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED and Response.objects.filter(job=job).count() == 4
        assert len(server.requests) - asked == 4 - kept


def test_a_case_the_server_refuses_for_good_is_that_cases_failure_and_a_later_job_answers_it(admin_user,
                                                                                             admin_client_):
    """A prompt longer than the server's context is stored as its case's failure: the
    other cases are answered, the job succeeds and says which case got no answer (page
    and API), its retry would not ask it again, and once the server's context is larger a
    job for the arm's missing responses answers it."""
    with FakeChatModel() as server:
        server.context_tokens, server.system_fingerprint = 600, False
        study, arm = endpoint_arm_study(server.base_url, slug="refused-for-good", cases=3, case_prefix="fits",
                                        name="Small context", served_model="smollm2", max_concurrency=2)
        long_text = "Which diagnosis fits? " + "Lab value noted. " * 300
        CaseFactory(study=study, external_id="too-long", turns=[{"speaker": "Dr. Lee", "role": "attending",
                                                                 "text": long_text}], question=long_text)
        job = generation.generation_job_queue(study=study, arm=arm)
        assert run_generation_chunks(job) == ["succeeded"]
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED and not job.error
        assert job.progress_done == job.progress_total == 4
        assert sorted(Response.objects.filter(job=job).values_list("case__external_id", flat=True)) == [
            "fits-0", "fits-1", "fits-2"]
        failure = GenerationFailure.objects.get(job=job)
        assert failure.case.external_id == "too-long" and failure.kind == "context"
        assert "the prompt is longer than the model's context (HTTP 400" in failure.message

        page = admin_client_.get(f"/studies/{study.slug}/jobs/").content.decode()
        assert f'id="job-generation-{job.pk}-unanswered"' in page
        assert "1 case got no answer" in page and "too-long: http://127.0.0.1" in page
        api = admin_client_.get(f"/api/generation-jobs/{job.pk}/").json()
        assert api["unanswered"]["count"] == 1 and api["unanswered"]["first_case"] == "too-long"
        assert admin_client_.get("/api/generation-jobs/").json()["results"][0]["unanswered"]["count"] == 1
        admin_page = admin_client_.get(f"/admin/annotations/generationjob/{job.pk}/change/").content.decode().lower()
        assert "cases with no answer" in admin_page and "longer than the model&#x27;s context" in admin_page

        asked = len(server.requests)
        GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)  # its message delivered again
        GenerationChunk.objects.filter(job=job).update(status=JobStatus.RUNNING)
        assert run_generation_chunks(job) == ["succeeded"]
        assert len(server.requests) == asked and GenerationFailure.objects.filter(job=job).count() == 1

        server.context_tokens = None
        later = generation.generation_job_queue(study=study, arm=arm, only_missing=True)
        assert later.progress_total == 1
        assert run_generation_chunks(later) == ["succeeded"]
        assert Response.objects.get(job=later).case.external_id == "too-long"
        assert not GenerationFailure.objects.filter(job=later).exists()
        assert "unanswered" not in admin_client_.get(f"/studies/{study.slug}/jobs/").content.decode().split(
            f"job-generation-{later.pk}")[1].split("</tr>")[0]
