"""A training job is one chunk, run by the same runner as every job: queued as one chunk
with no case range under a task id derived from the job's, its progress (steps, tokens/s,
ETA, the loss of each step) written to the job as it trains, its cancel read between
steps, and its end written when the chunk ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from annotations.job_kinds import JOB_KINDS
from annotations.models import JobStatus, ModelArm, TrainingJob
from annotations.services import chunks
from annotations.services.jobs import chunk_task_id, job_cancel
from annotations.services.training import training_chunk_run, training_job_queue
from modeling.progress import Cancelled, Progress
from modeling.train.lora import TrainResult
from tests.annotations.worker_helpers import TEST_REDIS_URL
from tests.factories import CaseFactory, StudyFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_broker"), pytest.mark.sqlite]

STEPS = 3
BETWEEN_STEPS: list = []  # called after each step's progress, once each


def fake_train_adapter(base, cases, arm, out_dir, *, progress=None, should_stop=None, **options) -> TrainResult:
    """Three steps, each reported as training reports it; stops as training does."""
    losses = []
    for step in range(1, STEPS + 1):
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
    import modeling.train

    monkeypatch.setattr(modeling.train, "train_adapter", fake_train_adapter)
    BETWEEN_STEPS.clear()
    study = StudyFactory()
    CaseFactory(study=study, split="train")
    yield training_job_queue(study=study, method="behavior_sft", base_model="demo")
    BETWEEN_STEPS.clear()


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
    monkeypatch.setattr(chunks, "PROGRESS_EVERY_S", 0)  # every step's progress written (and the flag read)
    BETWEEN_STEPS.append(lambda: job_cancel(job=TrainingJob.objects.get(pk=queued.pk)))
    assert training_chunk_run(chunk_id=queued.chunks.get().pk, worker="w@host") == "cancelled"
    job = TrainingJob.objects.get(pk=queued.pk)
    assert job.status == JobStatus.CANCELLED and job.chunks.get().status == JobStatus.CANCELLED
    assert job.loss_history == [1.0, 0.5] and job.result_arm is None  # the step in flight was reported
