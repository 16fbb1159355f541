"""Generation and training jobs: queue, start, progress, finish, cancel, retry.

A job row is only ever left "queued" when its Celery message was accepted by the broker;
if the broker cannot be reached the row is removed again and the admin is told.
"""

from __future__ import annotations

import logging
import traceback as traceback_module
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotations.models import Case, GenerationJob, JobStatus, ModelArm, Study, StudyArm, TrainingJob
from annotations.services.audit import audit_record

logger = logging.getLogger(__name__)

DEFAULT_DECODING = {"max_new_tokens": 160, "do_sample": False}
DEFAULT_TRAINING = {"epochs": 3, "learning_rate": 2e-4, "lora_r": 16, "seed": 0}
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


class QueueUnavailable(RuntimeError):
    """The task queue (Redis) could not be reached; nothing was queued."""


class JobStateError(ValueError):
    pass


def _send(task, job) -> str:
    """Hand the job to Celery without retrying for minutes when Redis is down."""
    from evalportal.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
            result = task.apply_async(args=[job.pk], connection=connection, retry=False)
    except Exception as exc:  # kombu raises OperationalError, ConnectionError, socket errors...
        raise QueueUnavailable(
            f"The task queue at {_redacted(app.conf.broker_url)} cannot be reached ({exc.__class__.__name__}: "
            f"{exc}). Nothing was queued; start Redis (or check REDIS_URL) and try again.") from exc
    return result.id


def _redacted(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url or "")


def _enqueue(job, task, *, actor, action: str) -> None:
    """Commit the job, then send it; if sending fails, undo the job so nothing is orphaned."""
    try:
        task_id = _send(task, job)
    except QueueUnavailable:
        if action.endswith(".retry"):
            type(job).objects.filter(pk=job.pk).update(status=JobStatus.FAILED,
                                                       error="Retry not queued: the task queue was unreachable.")
        else:
            job.delete()
        raise
    type(job).objects.filter(pk=job.pk).update(celery_task_id=task_id)
    job.celery_task_id = task_id
    audit_record(actor=actor, action=action, obj=job, summary=str(job), after={"task": task_id})


def job_queue_generation(*, study: Study, arm: ModelArm, cases: Iterable[Case] | None = None, actor=None,
                         decoding_params: dict | None = None, seed: int = 0) -> GenerationJob:
    """Queue generation of ``arm``'s responses for ``cases`` (default: the study's test cases)."""
    from annotations.tasks import run_generation_job

    if not StudyArm.objects.filter(study=study, arm=arm).exists():
        raise JobStateError(f"Arm {arm.name!r} is not part of study {study.slug!r}.")
    case_ids = ([c.pk for c in cases] if cases is not None
                else list(study.cases.filter(split=Case.Split.TEST).values_list("pk", flat=True)))
    if not case_ids:
        raise JobStateError("No cases to generate for.")
    if Case.objects.filter(pk__in=case_ids).exclude(study=study).exists():
        raise JobStateError("Some cases belong to another study.")
    decoding = {**DEFAULT_DECODING, **(arm.decoding_params or {}), **(decoding_params or {})}
    with transaction.atomic():
        job = GenerationJob.objects.create(study=study, arm=arm, created_by=actor if actor and actor.pk else None,
                                           decoding_params=decoding, seed=seed, progress_total=len(case_ids))
        job.cases.set(case_ids)
    _enqueue(job, run_generation_job, actor=actor, action="job.generation.queue")
    return job


def job_queue_training(*, study: Study, method: str, base_model: str = "demo", actor=None,
                       hyperparameters: dict | None = None) -> TrainingJob:
    """Queue LoRA training (BehaviorSFT or GeneralSFT) on the study's training split."""
    from annotations.tasks import run_training_job

    if method not in ("behavior_sft", "general_sft"):
        raise JobStateError(f"Unknown training method {method!r}; use behavior_sft or general_sft.")
    n_train = study.cases.filter(split=Case.Split.TRAIN).count()
    if not n_train:
        raise JobStateError(f"Study {study.slug!r} has no cases in its training split.")
    params = {**DEFAULT_TRAINING, **(hyperparameters or {})}
    job = TrainingJob.objects.create(study=study, method=method, base_model=base_model, hyperparameters=params,
                                     created_by=actor if actor and actor.pk else None)
    _enqueue(job, run_training_job, actor=actor, action="job.training.queue")
    return job


def job_cancel(*, job, actor=None) -> None:
    """Ask a job to stop. A queued job stops at once; a running one between chunks,
    keeping what it wrote."""
    from evalportal.celery import app

    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        if locked.status not in ACTIVE:
            raise JobStateError(f"Job {job.pk} is {locked.status}; only queued or running jobs can be cancelled.")
        locked.cancel_requested = True
        fields = ["cancel_requested"]
        if locked.status == JobStatus.QUEUED:
            locked.status, locked.finished_at = JobStatus.CANCELLED, timezone.now()
            fields += ["status", "finished_at"]
        locked.save(update_fields=fields)
        audit_record(actor=actor, action="job.cancel", obj=locked, summary=str(locked))
    if locked.status == JobStatus.CANCELLED and locked.celery_task_id:
        try:
            app.control.revoke(locked.celery_task_id)
        except Exception:  # the task checks the flag anyway
            logger.warning("could not revoke task %s", locked.celery_task_id)
    job.refresh_from_db()


def job_retry(*, job, actor=None) -> None:
    """Queue a failed or cancelled job again; it resumes where it stopped."""
    from annotations.tasks import run_generation_job, run_training_job

    task = run_generation_job if isinstance(job, GenerationJob) else run_training_job
    job_requeue(job=job, task=task, actor=actor,
                action=f"job.{'generation' if task is run_generation_job else 'training'}.retry")


def job_requeue(*, job, task, actor, action: str) -> None:
    """Put a failed or cancelled job of any kind back in the queue under ``task``."""
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        if locked.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobStateError(f"Job {job.pk} is {locked.status}; only failed or cancelled jobs can be retried.")
        locked.status, locked.cancel_requested = JobStatus.QUEUED, False
        locked.error = locked.traceback = ""
        locked.finished_at = None
        locked.save(update_fields=["status", "cancel_requested", "error", "traceback", "finished_at"])
    _enqueue(locked, task, actor=actor, action=action)
    job.refresh_from_db()


# --- called by the tasks -------------------------------------------------------------------

def job_start(*, model, job_id: int, worker_host: str, device_name: str):
    """Mark a job running; returns None when it should not run (cancelled, finished, gone)."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED):
            return None
        if job.cancel_requested:
            job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
            job.save(update_fields=["status", "finished_at"])
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.worker_host, job.device_name = worker_host, device_name
        job.attempts += 1
        job.save(update_fields=["status", "started_at", "worker_host", "device_name", "attempts"])
    return job


def job_progress(*, job, done: int | None = None, total: int | None = None, tokens_per_s: float | None = None,
                 eta_s: float | None = None, **extra) -> bool:
    """Store progress; returns True when the job was asked to stop."""
    updates = {k: v for k, v in {"progress_done": done, "progress_total": total, "tokens_per_s": tokens_per_s,
                                 "eta_s": eta_s, **extra}.items() if v is not None}
    if updates:
        type(job).objects.filter(pk=job.pk).update(**updates)
    return type(job).objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_finish(*, job, status: str, error: BaseException | None = None) -> None:
    updates = {"status": status, "finished_at": timezone.now()}
    if error is not None:
        updates["error"] = f"{error.__class__.__name__}: {error}"[:5000]
        updates["traceback"] = "".join(traceback_module.format_exception(error))[-20000:]
    if status == JobStatus.SUCCEEDED:
        updates["eta_s"] = 0
    type(job).objects.filter(pk=job.pk).update(**updates)
    audit_record(actor=None, action=f"job.{status}", obj=job, summary=f"{job}: {updates.get('error', status)}")


def training_register_arm(*, job: TrainingJob, adapter_dir: str, checkpoint_hash: str) -> ModelArm:
    """The trained adapter becomes a new arm of the study (once, however often the task ran)."""
    names = {"behavior_sft": "BehaviorSFT", "general_sft": "GeneralSFT"}
    with transaction.atomic():
        arm, _ = ModelArm.objects.get_or_create(
            name=f"{names[job.method]} (training job {job.pk})",
            defaults={"method": job.method, "base_model": job.base_model, "adapter_path": adapter_dir,
                      "uses_behavior_tokens": job.method == "behavior_sft", "checkpoint_hash": checkpoint_hash,
                      "decoding_params": dict(DEFAULT_DECODING),
                      "description": f"Trained by job {job.pk} on study {job.study.slug}'s training split."},
        )
        position = StudyArm.objects.filter(study=job.study).count()
        StudyArm.objects.get_or_create(study=job.study, arm=arm, defaults={"position": position})
        TrainingJob.objects.filter(pk=job.pk).update(result_arm=arm, adapter_path=adapter_dir)
    return arm


def adapter_dir_for(job: TrainingJob) -> str:
    return str(settings.EVALPORTAL_ADAPTER_DIR / f"{job.study.slug}-{job.method}-job{job.pk}")
