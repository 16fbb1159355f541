"""A training job is one chunk, run by the same runner as every job: queued as one chunk
with no case range under a task id derived from the job's, its progress (steps, tokens/s,
ETA, the loss of each step) written to the job as it trains, where the run is tracked
and the step it resumed from shown on the jobs page, its cancel read between steps, and
its end written when the chunk ends. Here training itself is a script reporting as the
training processes report (``modeling.train.launch.train_in_processes``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from annotations.job_kinds import JOB_KINDS
from annotations.models import JobStatus, ModelArm, TrainingJob
from annotations.services import chunks, training
from annotations.services.jobs import chunk_task_id, job_cancel
from annotations.services.training import training_chunk_run, training_job_queue
from modeling.progress import Cancelled, Progress
from modeling.train import TrainResult
from tests.annotations.worker_helpers import TEST_REDIS_URL
from tests.factories import CaseFactory, StudyFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_broker"), pytest.mark.sqlite]

STEPS = 3
BETWEEN_STEPS: list = []  # called after each step's progress, once each
RUN: dict = {}  # what the run reports as it starts


def fake_train_in_processes(base, cases, arm, out_dir, params, *, progress=None, should_stop=None, on_run=None,
                            **options) -> TrainResult:
    """Three steps, each reported as training reports it; stops as training does."""
    losses = list(RUN.get("loss_history", []))
    on_run({"report_to": ["tensorboard"], "tensorboard_dir": f"{out_dir}/runs", "resumed_from_step": None, **RUN})
    for step in range(len(losses) + 1, STEPS + 1):
        if should_stop():
            raise Cancelled(f"training stopped at step {step} of {STEPS}")
        losses.append(1.0 / step)
        progress(Progress(done=step, total=STEPS, tokens=100 * step, elapsed_s=step, tokens_per_s=100.0,
                          eta_s=float(STEPS - step), loss=losses[-1], stage="train"))
        if BETWEEN_STEPS:
            BETWEEN_STEPS.pop(0)()
    return TrainResult(loss_history=losses, adapter_dir=Path(out_dir), manifest={"adapter_hash": "ab" * 32})


@pytest.fixture
def queued(monkeypatch):
    import modeling.train.launch

    monkeypatch.setattr(modeling.train.launch, "train_in_processes", fake_train_in_processes)
    BETWEEN_STEPS.clear()
    RUN.clear()
    study = StudyFactory()
    CaseFactory(study=study, split="train")
    yield training_job_queue(study=study, method="behavior_sft", base_model="demo")
    BETWEEN_STEPS.clear()
    RUN.clear()


def test_a_training_job_is_queued_as_one_chunk_covering_the_whole_job(queued):
    chunk = queued.chunks.get()
    assert (chunk.index, chunk.first_case_id, chunk.last_case_id, chunk.status) == (0, None, None, JobStatus.QUEUED)
    waiting = [json.loads(m)["headers"] for m in redis.Redis.from_url(TEST_REDIS_URL).lrange("gpu", 0, -1)]
    assert [(m["task"], m["id"]) for m in waiting] == [
        (JOB_KINDS["training"].task, chunk_task_id(queued.celery_task_id, 0, 0))]


def test_a_training_chunk_writes_its_progress_and_ends_its_job(queued):
    seen = []
    BETWEEN_STEPS.append(lambda: seen.append(TrainingJob.objects.values(
        "status", "progress_done", "progress_total", "tokens_per_s", "eta_s", "loss_history").get(pk=queued.pk)))
    assert training_chunk_run(chunk_id=queued.chunks.get().pk, worker="w@host") == "succeeded"
    assert seen == [{"status": JobStatus.RUNNING, "progress_done": 1, "progress_total": STEPS, "tokens_per_s": 100.0,
                     "eta_s": 2.0, "loss_history": [1.0]}]  # the first step's, written at once
    job = TrainingJob.objects.get(pk=queued.pk)
    assert job.status == JobStatus.SUCCEEDED and (job.progress_done, job.progress_total) == (STEPS, STEPS)
    assert job.loss_history == [1.0, 0.5, 1 / 3] and job.tokens_per_s == 100.0 and job.eta_s == 0
    assert job.result_arm == ModelArm.objects.get(name=f"BehaviorSFT (training job {job.pk})")
    assert job.chunks.get().status == JobStatus.SUCCEEDED and job.attempts == 1


def test_a_cancel_stops_training_at_the_next_step(queued, monkeypatch):
    monkeypatch.setattr(chunks, "PROGRESS_EVERY_S", 0)  # every step's progress written
    monkeypatch.setattr(training, "CANCEL_READ_EVERY_S", 0)  # and the flag read before each step
    BETWEEN_STEPS.append(lambda: job_cancel(job=TrainingJob.objects.get(pk=queued.pk)))
    assert training_chunk_run(chunk_id=queued.chunks.get().pk, worker="w@host") == "cancelled"
    job = TrainingJob.objects.get(pk=queued.pk)
    assert job.status == JobStatus.CANCELLED and job.chunks.get().status == JobStatus.CANCELLED
    assert job.loss_history == [1.0] and job.result_arm is None  # read before the next step, which never ran


def test_the_jobs_page_shows_where_the_run_is_tracked_and_the_step_it_resumed_from(queued, admin_client_):
    RUN.update(resumed_from_step=2, loss_history=[1.0, 0.5], run_url="http://mlflow.lab:5000/#/experiments/1/runs/ab")
    seen = []
    BETWEEN_STEPS.append(lambda: seen.append(TrainingJob.objects.values_list("loss_history", flat=True).get(
        pk=queued.pk)))
    assert training_chunk_run(chunk_id=queued.chunks.get().pk, worker="w@host") == "succeeded"
    assert seen == [[1.0, 0.5, round(1 / 3, 5)]]  # the steps before the checkpoint kept, the new one added
    job = TrainingJob.objects.get(pk=queued.pk)
    assert (job.resumed_from_step, job.tensorboard_dir) == (2, f"{job.adapter_path}/runs")
    html = admin_client_.get(f"/studies/{job.study.slug}/jobs/").content.decode()
    row = html[html.index(f'id="job-training-{job.pk}-run"'):]
    row = row[:row.index("</tr>")]
    assert "Resumed from its checkpoint at step 2." in row
    assert f"<code>tensorboard --logdir {job.adapter_path}/runs</code>" in row
    assert '<a href="http://mlflow.lab:5000/#/experiments/1/runs/ab" rel="noopener">' in row


def test_a_tracker_not_installed_fails_the_job_saying_what_to_do(queued, settings):
    settings.EVALPORTAL_TRAIN_REPORT_TO = "wandb"
    assert training_chunk_run(chunk_id=queued.chunks.get().pk, worker="w@host") == "failed"
    job = TrainingJob.objects.get(pk=queued.pk)
    assert job.status == JobStatus.FAILED and "the wandb package is not installed" in job.error
    assert "pip install wandb" in job.error and job.result_arm is None
