"""A send the broker refuses changes nothing: a job queued, retried (failed, cancelled,
or running with its worker lost), from the service, the jobs page or the API, is left
exactly as it was, its chunks too, when Redis cannot be reached."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotations.errors import QueueUnavailable
from annotations.job_kinds import JOB_KINDS
from annotations.models import AuditEvent, GenerationJob, ImportJob, JobStatus, TrainingJob
from annotations.services.generation import generation_job_queue
from annotations.services.imports import import_dir, import_job_queue
from annotations.services.jobs import chunk_task_id, job_retry
from annotations.services.training import training_job_queue
from tests.annotations.worker_helpers import redis_down
from tests.factories import JOB_KIND_FIELDS, CaseFactory, StudyArmFactory, StudyFactory

# Messages are sent when the job's transaction commits: these tests commit.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_broker"), pytest.mark.sqlite]

LONG_AGO = timedelta(hours=1)


def _job(kind: str, study, status: str, **extra):
    """A job of ``kind`` in ``status`` with a past: an error, a finish, an old task id;
    it has a chunk that succeeded and one that did not (running: its worker lost)."""
    fields = dict(JOB_KIND_FIELDS[kind])
    if kind == "generation":
        fields["arm"] = StudyArmFactory(study=study).arm
    now = timezone.now()
    job = JOB_KINDS[kind].model.objects.create(
        study=study, status=status, error="RuntimeError: boom", traceback="Traceback: boom",
        cancel_requested=status == JobStatus.CANCELLED, celery_task_id="old-task", started_at=now - LONG_AGO,
        finished_at=None if status == JobStatus.RUNNING else now, attempts=1, progress_done=1, progress_total=2,
        **extra, **fields)
    chunk_model = JOB_KINDS[kind].chunk_model
    chunk_model.objects.create(job=job, index=0, first_case_id=1, last_case_id=1, units=1, done=1,
                               status=JobStatus.SUCCEEDED, finished_at=now)
    chunk_model.objects.create(job=job, index=1, first_case_id=2, last_case_id=2, units=1, status=status,
                               error="RuntimeError: boom" if status == JobStatus.FAILED else "",
                               started_at=now - LONG_AGO, attempts=1,
                               finished_at=None if status == JobStatus.RUNNING else now,
                               **({"run_token": "lost-run", "heartbeat_at": now - LONG_AGO}
                                  if status == JobStatus.RUNNING else {}))
    return job


def _rows(job) -> list[dict]:
    """Every field of the job and of its chunks."""
    kind = next(k for k in JOB_KINDS.values() if k.model is type(job))
    return [kind.model.objects.filter(pk=job.pk).values().get(),
            *kind.chunk_model.objects.filter(job=job).order_by("index").values()]


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_a_refused_retry_leaves_the_job_and_its_chunks_as_they_were(kind, status):
    job = _job(kind, StudyFactory(), status)
    before = _rows(job)
    with redis_down(), pytest.raises(QueueUnavailable, match="Nothing was queued"):
        job_retry(job=job)
    assert _rows(job) == before
    assert not AuditEvent.objects.filter(action=f"job.{kind}.retry").exists()


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_a_refused_retry_of_a_job_whose_worker_was_lost_leaves_it_running(kind):
    job = _job(kind, StudyFactory(), JobStatus.RUNNING)  # its chunk #1's worker was lost
    before = _rows(job)
    with redis_down(), pytest.raises(QueueUnavailable):
        job_retry(job=job)
    assert _rows(job) == before


def test_once_the_queue_is_back_the_same_retry_goes_through():
    job = _job("generation", StudyFactory(), JobStatus.CANCELLED)
    with redis_down(), pytest.raises(QueueUnavailable):
        job_retry(job=job)
    job_retry(job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and not job.cancel_requested and job.error == ""
    sent = [(c.status, chunk_task_id(job.celery_task_id, c.index, c.sends)) for c in job.chunks.order_by("index")]
    assert sent == [(JobStatus.SUCCEEDED, "old-task.0"), (JobStatus.QUEUED, "old-task.1.1")]


def test_a_refused_queue_leaves_no_job_of_any_kind(admin_user):
    study = StudyFactory()
    arm = StudyArmFactory(study=study).arm
    CaseFactory(study=study)
    CaseFactory(study=study, split="train")
    uploads = set(import_dir().iterdir())
    with redis_down():
        with pytest.raises(QueueUnavailable):
            generation_job_queue(study=study, arm=arm, actor=admin_user)
        with pytest.raises(QueueUnavailable):
            training_job_queue(study=study, method="behavior_sft", base_model="demo", actor=admin_user)
        with pytest.raises(QueueUnavailable):
            import_job_queue(study=study, upload=SimpleUploadedFile("cases.jsonl", b"{}\n"), actor=admin_user)
    assert not GenerationJob.objects.exists() and not TrainingJob.objects.exists() and not ImportJob.objects.exists()
    assert not any(kind.chunk_model.objects.exists() for kind in JOB_KINDS.values())
    assert set(import_dir().iterdir()) == uploads  # the upload kept for the worker is removed again


def test_a_refused_retry_from_the_jobs_page_says_so_and_changes_nothing(admin_client_):
    study = StudyFactory(slug="refused")
    job = _job("generation", study, JobStatus.CANCELLED)
    before = _rows(job)
    with redis_down():
        page = admin_client_.post(f"/studies/refused/jobs/generation/{job.pk}/retry/", follow=True)
    assert page.status_code == 200 and "Nothing was queued" in page.content.decode()
    assert _rows(job) == before


def test_a_refused_retry_in_the_api_is_a_503_and_changes_nothing(admin_client_):
    job = _job("judge", StudyFactory(), JobStatus.FAILED)
    before = _rows(job)
    with redis_down():
        response = admin_client_.post(f"/api/judge-jobs/{job.pk}/retry/")
    assert response.status_code == 503 and "Nothing was queued" in response.json()["detail"]
    assert _rows(job) == before
