"""A training job whose worker is killed (SIGKILL, with its training process) after the
first checkpoint: retried, a new worker's run goes on from the newest checkpoint and
finishes the job, a real Celery worker each time, on the real demo model."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import psutil
import pytest

from annotations.models import JobStatus, TrainingJob
from annotations.selectors.jobs import study_jobs
from annotations.services.jobs import job_retry
from annotations.services.training import adapter_dir_for, training_job_queue
from tests.annotations.worker_helpers import WorkerProcess, wait_until
from tests.factories import CaseFactory, StudyFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.modeling]
LOST_S = 3
STEPS = 5
BEHAVIORS = ("proactive", "reactive", "balanced")


@pytest.fixture
def workers(settings, monkeypatch, workers):
    """The shared fixture's workers, taking a worker for lost after LOST_S seconds."""
    settings.JOB_WORKER_LOST_S = LOST_S
    monkeypatch.setenv("JOB_WORKER_LOST_S", str(LOST_S))  # the workers' setting
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # steps this small run faster on a shared CPU
    return workers


def _kill_with_children(worker: WorkerProcess) -> None:
    """SIGKILL the worker and the processes it started, as a machine's end would."""
    family = [*psutil.Process(worker.process.pid).children(recursive=True), psutil.Process(worker.process.pid)]
    for process in family:
        os.kill(process.pid, signal.SIGKILL)
    worker.process.wait(timeout=30)
    psutil.wait_procs(family, timeout=30)


def test_a_training_job_whose_worker_was_killed_resumes_from_its_last_checkpoint(workers):
    study = StudyFactory(slug="resume")
    for n in range(4):
        CaseFactory(study=study, split="train", external_id=f"train-{n}", gold_behavior=BEHAVIORS[n % 3])
    job = training_job_queue(study=study, method="behavior_sft", hyperparameters={
        "steps": STEPS, "batch_size": 1, "save_steps": 1, "learning_rate": 1e-3, "lora_r": 4, "lora_dropout": 0.0,
        "warmup_ratio": 0.0, "max_length": 256})
    adapter = Path(adapter_dir_for(job))
    shutil.rmtree(adapter, ignore_errors=True)  # an earlier run's job of the same number trained here
    first = workers()
    wait_until(lambda: list(adapter.glob("checkpoints/*/checkpoint-*/trainer_state.json")), 300,
               "the first checkpoint")
    _kill_with_children(first)
    assert not (adapter / "manifest.json").exists()  # killed before the end: no adapter yet
    row = lambda: next(r for r in study_jobs(study) if r.job.pk == job.pk)  # noqa: E731
    wait_until(lambda: row().worker_lost, LOST_S + 10, "the worker to be taken for lost")

    job_retry(job=TrainingJob.objects.get(pk=job.pk))
    second = workers()
    wait_until(lambda: TrainingJob.objects.get(pk=job.pk).status not in (JobStatus.QUEUED, JobStatus.RUNNING), 300,
               "the retried job to end")
    done = TrainingJob.objects.get(pk=job.pk)
    assert done.status == JobStatus.SUCCEEDED, (done.error, second.log())
    manifest = json.loads((adapter / "manifest.json").read_text())
    assert done.resumed_from_step and done.resumed_from_step == manifest["resumed_from_step"] >= 1
    assert manifest["steps"] == STEPS and len(done.loss_history) == STEPS == len(manifest["loss_history"])
    assert done.loss_history == manifest["loss_history"]
    assert (done.progress_done, done.progress_total) == (STEPS, STEPS) and done.chunks.get().attempts == 2
    assert done.tensorboard_dir == str(adapter / "runs") and len(list((adapter / "runs").iterdir())) == 2
    assert done.result_arm.adapter_path == str(adapter) and not (adapter / "checkpoints").exists()
    shutil.rmtree(adapter)
