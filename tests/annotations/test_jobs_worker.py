"""GPU-queue jobs through a real Redis broker and a real Celery worker process running the
real demo model (on CPU here)."""

import shutil
import uuid
from collections import Counter
from pathlib import Path

import pytest

from annotations.errors import QueueUnavailable
from annotations.models import AuditEvent, GenerationJob, JobStatus, ModelArm, Response
from annotations.services.cases import case_import
from annotations.services.demo import DEMO_CASES
from annotations.services.generation import generation_job_queue
from annotations.services.jobs import job_cancel, job_retry
from tests.annotations.worker_helpers import wait_until
from tests.chat_server import FakeChatModel
from tests.factories import StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.worker, pytest.mark.modeling, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

TOKENS = ("<|reactive|>", "<|balanced|>", "<|proactive|>")
FAST = {"max_new_tokens": 12, "max_batch_size": 1}


@pytest.fixture
def study():
    study = StudyFactory(slug="jobs")
    case_import(study=study, data=DEMO_CASES.read_bytes())
    return study


@pytest.fixture
def arm(study):
    arm = ModelArm.objects.create(name="Demo baseline", method="baseline", base_model="demo")
    StudyArmFactory(study=study, arm=arm)
    return arm


def _job(job_id) -> GenerationJob:
    return GenerationJob.objects.get(pk=job_id)


def _test_cases(study, n):
    return list(study.cases.filter(split="test").order_by("external_id")[:n])


def test_generation_job_writes_responses_with_provenance(study, arm, workers, admin_user):
    worker = workers()
    cases = _test_cases(study, 3)
    job = generation_job_queue(study=study, arm=arm, cases=cases, actor=admin_user,
                                            decoding_params=FAST)
    assert job.status == JobStatus.QUEUED and job.celery_task_id

    wait_until(lambda: _job(job.pk).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), 300,
               "the job to finish", interval=1)
    job = _job(job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.traceback + worker.log()
    assert (job.progress_done, job.progress_total) == (3, 3) and job.progress_percent == 100
    assert job.worker_host and job.device_name.startswith("CPU") and job.tokens_per_s > 0
    responses = Response.objects.filter(job=job)
    assert sorted(r.case_id for r in responses) == sorted(c.pk for c in cases)
    for response in responses:
        assert response.completion_tokens and response.completion_tokens <= 12
        assert not any(t in response.text for t in TOKENS)
        p = response.provenance
        assert p["base_hash"] and len(p["base_hash"]) == 64
        assert p["decoding"]["max_new_tokens"] == 12 and p["seed"] == 0 and p["template_version"]
        assert p["worker_host"] == job.worker_host and p["device"] == job.device_name
    assert AuditEvent.objects.filter(action="job.generation.queue", object_id=str(job.pk)).exists()


def test_killed_worker_job_resumes_on_a_new_worker_without_duplicates(study, arm, workers):
    first = workers()
    cases = _test_cases(study, 6)
    job = generation_job_queue(study=study, arm=arm, cases=cases, decoding_params=FAST)
    wait_until(lambda: Response.objects.filter(job_id=job.pk).count() >= 1, 300, "a first response")
    first.kill()
    written_before = Response.objects.filter(job_id=job.pk).count()
    assert written_before < 6, "the job finished before the worker could be killed"
    assert _job(job.pk).status == JobStatus.RUNNING

    second = workers()
    wait_until(lambda: _job(job.pk).status == JobStatus.SUCCEEDED, 300, "the job to complete on the new worker",
               interval=1)
    per_case = Counter(Response.objects.filter(job_id=job.pk).values_list("case_id", flat=True))
    assert sorted(per_case) == sorted(c.pk for c in cases)
    assert set(per_case.values()) == {1}
    chunk = _job(job.pk).chunks.get()  # redelivered (acks late) and run again, skipping what it wrote
    assert chunk.attempts == 2 and chunk.worker.startswith("test-"), second.log()
    assert _job(job.pk).progress_done == 6


def test_cancel_mid_job_keeps_what_was_written(study, arm, workers, admin_user):
    workers()
    job = generation_job_queue(study=study, arm=arm, cases=_test_cases(study, 8), decoding_params=FAST)
    wait_until(lambda: Response.objects.filter(job_id=job.pk).count() >= 1, 300, "a first response")
    job_cancel(job=_job(job.pk), actor=admin_user)
    wait_until(lambda: _job(job.pk).status == JobStatus.CANCELLED, 120, "the job to stop")
    kept = Response.objects.filter(job_id=job.pk).count()
    assert 1 <= kept < 8
    assert _job(job.pk).progress_done == kept


def test_failed_job_records_the_error_and_retry_completes(study, arm, workers, admin_user, settings):
    adapter = Path(settings.EVALPORTAL_ADAPTER_DIR) / f"vanishing-{uuid.uuid4().hex[:8]}"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    arm.adapter_path = str(adapter)
    arm.save()
    job = generation_job_queue(study=study, arm=arm, cases=_test_cases(study, 2), decoding_params=FAST)
    shutil.rmtree(adapter)  # gone after the job was queued, before a worker took it
    workers()
    wait_until(lambda: _job(job.pk).status == JobStatus.FAILED, 300, "the job to fail")
    failed = _job(job.pk)
    assert f"The adapter {adapter} is not on this worker" in failed.error and "retry the job" in failed.error
    assert "Traceback" in failed.traceback

    arm.adapter_path = ""
    arm.save()
    job_retry(job=failed, actor=admin_user)
    wait_until(lambda: _job(job.pk).status == JobStatus.SUCCEEDED, 300, "the retried job")
    assert Response.objects.filter(job_id=job.pk).count() == 2
    assert _job(job.pk).error == ""


def test_an_upload_is_imported_by_the_worker_as_a_one_chunk_job(workers, example_cases_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from annotations.models import ImportJob
    from annotations.services.imports import import_job_queue

    workers()
    study = StudyFactory(slug="imported")
    job = import_job_queue(study=study, upload=SimpleUploadedFile("cases.jsonl", example_cases_bytes))
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, 120, "the import")
    done = ImportJob.objects.get(pk=job.pk)
    assert done.progress_done == done.progress_total == len(example_cases_bytes) and study.cases.exists()
    chunk = done.chunks.get()
    assert chunk.attempts == 1 and chunk.worker.startswith("test-") and done.worker_host


def test_unreachable_redis_gives_a_clear_error_and_leaves_no_job(study, arm, admin_user, settings):
    from evalportal.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        with pytest.raises(QueueUnavailable) as info:
            generation_job_queue(study=study, arm=arm, cases=_test_cases(study, 2), actor=admin_user)
    finally:
        app.conf.broker_url = original
    assert "cannot be reached" in str(info.value) and "Nothing was queued" in str(info.value)
    assert not GenerationJob.objects.exists()


def test_judge_job_runs_on_the_worker_with_the_demo_model(study, arm, workers, admin_user):
    from annotations.models.judge import JudgeJob, JudgeScore
    from annotations.services import judging

    worker = workers()
    responses = [Response.objects.create(case=case, arm=arm, text=f"Recheck the potassium before the next dose ({n}).")
                 for n, case in enumerate(_test_cases(study, 2))]
    job = judging.judge_job_queue(study=study, dimensions=["safety", "specificity"], responses=responses,
                                  actor=admin_user)
    wait_until(lambda: JudgeJob.objects.get(pk=job.pk).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), 300,
               "the judge job to finish", interval=1)
    job = JudgeJob.objects.get(pk=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.traceback + worker.log()
    assert (job.progress_done, job.progress_total) == (4, 4) and job.worker_host
    scores = JudgeScore.objects.filter(job=job)
    assert sorted((s.response_id, s.dimension) for s in scores) == sorted(
        (r.pk, d) for r in responses for d in ("safety", "specificity"))
    assert all(s.method == "logits" and s.score is not None and s.prompt and s.raw_output for s in scores)
    assert AuditEvent.objects.filter(action="job.judge.queue", object_id=str(job.pk)).exists()


def test_two_workers_share_one_job_chunk_by_chunk(study, arm, workers, settings):
    settings.JOB_CHUNK_CASES = 2
    # A visibility timeout longer than a chunk (the other tests' 6 s redelivers every
    # chunk still running to the other worker, which is what a killed worker needs).
    first, second = workers(visibility_timeout=3600), workers(visibility_timeout=3600)
    cases = _test_cases(study, 12)
    job = generation_job_queue(study=study, arm=arm, cases=cases, decoding_params=FAST)
    assert job.chunks.count() == 6
    wait_until(lambda: _job(job.pk).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), 600, "the job to finish",
               interval=1)
    job = _job(job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.traceback + first.log() + second.log()
    assert (job.progress_done, job.progress_total) == (12, 12) and job.tokens_per_s > 0
    per_case = Counter(Response.objects.filter(job=job).values_list("case_id", flat=True))
    assert sorted(per_case) == sorted(c.pk for c in cases) and set(per_case.values()) == {1}
    ran = Counter(job.chunks.values_list("worker", flat=True))
    assert len(ran) == 2 and sum(ran.values()) == 6, ran  # both workers took chunks
    assert all(c.status == JobStatus.SUCCEEDED and c.done == c.units == 2 for c in job.chunks.all())


def test_endpoint_arm_job_runs_on_the_endpoint_queue_against_a_chat_server(study, workers, admin_user):
    with FakeChatModel() as server:
        arm = ModelArm.objects.create(name="Served BehaviorSFT", method="behavior_sft", endpoint_url=server.base_url,
                                      served_model="behavior-sft", uses_behavior_tokens=True, max_concurrency=3)
        StudyArmFactory(study=study, arm=arm)
        worker = workers()
        server.faults = [429, 500]
        cases = _test_cases(study, 8)
        job = generation_job_queue(study=study, arm=arm, cases=cases, actor=admin_user)
        wait_until(lambda: _job(job.pk).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), 120,
                   "the endpoint job to finish", interval=0.5)
        job = _job(job.pk)
        assert job.status == JobStatus.SUCCEEDED, job.traceback + worker.log()
        responses = Response.objects.filter(job=job)
        assert responses.count() == 8 and server.answered == 8 and len(server.requests) == 10
        assert all(r.predicted_behavior and not any(t in r.text for t in TOKENS) for r in responses)
        assert {r.provenance["server_model"] for r in responses} == {"/models/behavior-sft-merged"}
