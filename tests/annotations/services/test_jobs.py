"""One job machinery for every kind: each kind's jobs go to its own task on its own queue,
retry sends a job back to the task of its kind, and the registry, the Celery app and the
jobs page agree on the kinds."""

from __future__ import annotations

import json

import pytest
import redis

from annotations.job_kinds import JOB_KINDS
from annotations.models import DatasetExportJob, GenerationJob, ImportJob, JobStatus, JudgeJob, TrainingJob
from annotations.services.jobs import job_cancel, job_retry
from tests.annotations.worker_helpers import TEST_REDIS_URL
from tests.factories import StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.usefixtures("clean_broker"), pytest.mark.sqlite]


def _queued_task_names(queue: str) -> list[str]:
    """The task names of the messages waiting in ``queue`` on the test broker (kombu's Redis
    transport keeps a queue as a list of JSON messages)."""
    messages = redis.Redis.from_url(TEST_REDIS_URL).lrange(queue, 0, -1)
    return [json.loads(message)["headers"]["task"] for message in messages]


def _failed_job(kind: str, study, status=JobStatus.FAILED):
    """A job of ``kind`` in ``status``, with one chunk in it."""
    arm = StudyArmFactory(study=study).arm
    fields = {"generation": dict(arm=arm), "training": dict(method="behavior_sft", base_model="demo"),
              "judge": dict(model_ref="demo", dimensions=[]),
              "import": dict(source_name="cases.jsonl", path="/nonexistent/cases.jsonl", size=10),
              "dataset_export": dict(license="mit")}[kind]
    job = JOB_KINDS[kind].model.objects.create(study=study, status=status, error="boom", **fields)
    JOB_KINDS[kind].chunk_model.objects.create(job=job, index=0, status=status)
    return job


@pytest.mark.django_db(transaction=True)  # messages are sent when the job's transaction commits
@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_retry_sends_a_job_to_the_task_of_its_own_kind(kind):
    job = _failed_job(kind, StudyFactory())
    job_retry(job=job)
    assert job.status == JobStatus.QUEUED and job.celery_task_id
    assert _queued_task_names(JOB_KINDS[kind].queue) == [JOB_KINDS[kind].task]


def test_every_kind_has_its_task_registered_and_its_queue_declared():
    import annotations.tasks  # noqa: F401  (what a worker imports)
    from evalportal.celery import app

    queues = {queue.name for queue in app.conf.task_queues}
    for kind in JOB_KINDS.values():
        assert kind.task in app.tasks, kind.name
        assert kind.queue in queues, kind.name
    assert {kind.model for kind in JOB_KINDS.values()} == {GenerationJob, TrainingJob, JudgeJob, ImportJob,
                                                           DatasetExportJob}


@pytest.mark.django_db
def test_the_jobs_page_lists_every_kind_and_cancels_any(admin_client_):
    study = StudyFactory(slug="kinds")
    jobs = {kind: _failed_job(kind, study, JobStatus.RUNNING if kind == "judge" else JobStatus.FAILED)
            for kind in JOB_KINDS}
    html = admin_client_.get("/studies/kinds/jobs/").content.decode()
    for kind, job in jobs.items():
        assert f'id="job-{kind}-{job.pk}"' in html
    admin_client_.post(f"/studies/kinds/jobs/judge/{jobs['judge'].pk}/cancel/")
    jobs["judge"].refresh_from_db()
    assert jobs["judge"].cancel_requested and jobs["judge"].status == JobStatus.RUNNING  # stops between batches


@pytest.mark.django_db
def test_an_unknown_job_kind_or_another_studys_job_is_a_404(admin_client_):
    study, other = StudyFactory(slug="mine"), StudyFactory(slug="theirs")
    job = _failed_job("judge", other)
    assert admin_client_.post(f"/studies/mine/jobs/judge/{job.pk}/retry/").status_code == 404
    assert admin_client_.post(f"/studies/mine/jobs/exports/{job.pk}/retry/").status_code == 404
    assert admin_client_.post(f"/studies/nope/jobs/judge/{job.pk}/retry/").status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and study.pk


@pytest.mark.django_db
def test_cancel_refuses_a_finished_job_with_a_message():
    from annotations.errors import JobStateError

    job = _failed_job("training", StudyFactory())
    with pytest.raises(JobStateError, match="only queued or running jobs can be cancelled"):
        job_cancel(job=job)
