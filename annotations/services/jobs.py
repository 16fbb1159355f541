"""The life of a job of any kind (:mod:`annotations.job_kinds`): queue, cancel, retry,
and the frame every job's runner works in (start, progress, finish).

A job row is only ever left "queued" when its Celery message was accepted by the broker:
the message is sent once the job's transaction has committed, and if the broker cannot
be reached the row is removed again (a retry is marked failed) and the caller gets
:class:`~annotations.errors.QueueUnavailable`.
"""

from __future__ import annotations

import logging
import time
import traceback as traceback_module
import uuid
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from annotations import worker_models
from annotations.errors import JobStateError, QueueUnavailable
from annotations.job_kinds import job_kind, kind_of
from annotations.models import JobStatus
from annotations.models.jobs import ACTIVE_STATUSES, RETRYABLE_STATUSES, JobBase
from annotations.services.audit import audit_record
from annotations.services.queue import task_send, tasks_send

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0


def _creator(actor):
    return actor if actor is not None and actor.pk else None


def _send(job: JobBase) -> str:
    """Hand the job to the broker: one message for the job, or one for each of its queued
    chunks (task ids ``<job's task id>.<chunk index>``, a new job task id at every send:
    a worker discards a message whose id it once revoked). Returns the job's task id."""
    kind = kind_of(job)
    if kind.chunk_model is None:
        return task_send(kind.task, args=[job.pk], queue=kind.queue_for(job))
    prefix = uuid.uuid4().hex
    chunks = list(kind.chunk_model.objects.filter(job=job, status=JobStatus.QUEUED).values_list("pk", "index"))
    task_ids = [f"{prefix}.{index}" for _, index in chunks]
    tasks_send(kind.task, args_list=[[pk] for pk, _ in chunks], queue=kind.queue_for(job), task_ids=task_ids)
    for (pk, _), task_id in zip(chunks, task_ids):
        kind.chunk_model.objects.filter(pk=pk).update(celery_task_id=task_id)
    return prefix


def job_enqueue(*, job: JobBase, actor, action: str) -> None:
    """Send ``job`` (or its queued chunks) to its kind's task once the current transaction
    commits (call inside it). If the broker is unreachable the job is undone and
    QueueUnavailable raised."""
    kind = kind_of(job)

    def send() -> None:
        try:
            task_id = _send(job)
        except QueueUnavailable:
            if action == "retry":
                kind.model.objects.filter(pk=job.pk).update(
                    status=JobStatus.FAILED, error="Retry not queued: the task queue was unreachable.")
            else:
                kind.model.objects.filter(pk=job.pk).delete()
            raise
        kind.model.objects.filter(pk=job.pk).update(celery_task_id=task_id)
        job.celery_task_id = task_id
        audit_record(actor=actor, action=f"{kind.audit_prefix}.{action}", obj=job, summary=str(job),
                     after={"task": task_id})

    transaction.on_commit(send)


def job_create(*, kind_name: str, actor, **fields) -> JobBase:
    """Create a job of the kind called ``kind_name`` with ``fields`` and queue it (inside
    the caller's transaction)."""
    job = job_kind(kind_name).model.objects.create(created_by=_creator(actor), **fields)
    job_enqueue(job=job, actor=actor, action="queue")
    return job


def job_cancel(*, job: JobBase, actor=None) -> None:
    """Ask a job to stop. A queued job stops at once; a running one between batches,
    keeping what it wrote; of a chunked job, the chunks not started yet stop at once."""
    kind = kind_of(job)
    revoke = []
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        if locked.status not in ACTIVE_STATUSES:
            raise JobStateError(f"Job {job.pk} is {locked.status}; only queued or running jobs can be cancelled.")
        locked.cancel_requested = True
        fields = ["cancel_requested"]
        if kind.chunk_model is not None:
            queued = kind.chunk_model.objects.filter(job=locked, status=JobStatus.QUEUED)
            revoke = [task_id for task_id in queued.values_list("celery_task_id", flat=True) if task_id]
            queued.update(status=JobStatus.CANCELLED, finished_at=timezone.now())
            running = kind.chunk_model.objects.filter(job=locked, status=JobStatus.RUNNING).exists()
        else:
            running = locked.status == JobStatus.RUNNING
            revoke = [locked.celery_task_id] if locked.celery_task_id and not running else []
        if not running:
            locked.status, locked.finished_at = JobStatus.CANCELLED, timezone.now()
            fields += ["status", "finished_at"]
        locked.save(update_fields=fields)
        audit_record(actor=actor, action=f"{kind.audit_prefix}.cancel", obj=locked, summary=str(locked))
    if revoke:
        from evalportal.celery import app

        try:
            app.control.revoke(revoke)
        except Exception:  # the tasks check the flag anyway
            logger.warning("could not revoke tasks %s", revoke[:5])
    job.refresh_from_db()


def job_retry(*, job: JobBase, actor=None) -> None:
    """Queue a failed or cancelled job again, to its own kind's task (of a chunked job,
    the chunks that did not finish); it resumes where it stopped."""
    kind = kind_of(job)
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        if locked.status not in RETRYABLE_STATUSES:
            raise JobStateError(f"Job {job.pk} is {locked.status}; only failed or cancelled jobs can be retried.")
        if kind.chunk_model is not None:
            kind.chunk_model.objects.filter(job=locked, status__in=RETRYABLE_STATUSES).update(
                status=JobStatus.QUEUED, error="", finished_at=None)
        locked.status, locked.cancel_requested = JobStatus.QUEUED, False
        locked.error = locked.traceback = ""
        locked.finished_at = None
        locked.save(update_fields=["status", "cancel_requested", "error", "traceback", "finished_at"])
        job_enqueue(job=locked, actor=actor, action="retry")
    job.refresh_from_db()


# --- the runner's side ---------------------------------------------------------------------

def job_start(*, model: type[JobBase], job_id: int) -> JobBase | None:
    """Mark a job running on this worker; None when it should not run (cancelled,
    finished, gone)."""
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
        job.worker_host, job.device_name = worker_models.worker_host(), worker_models.device_name()
        job.attempts += 1
        job.save(update_fields=["status", "started_at", "worker_host", "device_name", "attempts"])
    return job


def job_progress(*, job: JobBase, done: int | None = None, total: int | None = None,
                 tokens_per_s: float | None = None, eta_s: float | None = None, **extra) -> bool:
    """Store progress; returns True when the job was asked to stop."""
    updates = {k: v for k, v in {"progress_done": done, "progress_total": total, "tokens_per_s": tokens_per_s,
                                 "eta_s": eta_s, **extra}.items() if v is not None}
    if updates:
        type(job).objects.filter(pk=job.pk).update(**updates)
    return type(job).objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_finish(*, job: JobBase, status: str, error: BaseException | None = None) -> None:
    updates = {"status": status, "finished_at": timezone.now()}
    if error is not None:
        updates["error"] = f"{error.__class__.__name__}: {error}"[:5000]
        updates["traceback"] = "".join(traceback_module.format_exception(error))[-20000:]
    if status == JobStatus.SUCCEEDED:
        updates["eta_s"] = 0
    type(job).objects.filter(pk=job.pk).update(**updates)
    audit_record(actor=None, action=f"job.{status}", obj=job, summary=f"{job}: {updates.get('error', status)}")


class JobProgress:
    """A ``modeling`` progress callback that writes to the job at most once a second and
    reads the job's cancel flag with each write (:attr:`stop`)."""

    def __init__(self, job: JobBase, offset: int = 0):
        self.job, self.offset = job, offset
        self.last, self.stop = 0.0, False
        self.losses: list[float] = []

    def __call__(self, progress) -> None:
        if progress.loss is not None and len(self.losses) < progress.done:
            self.losses.append(round(progress.loss, 5))
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and progress.done < progress.total:
            return
        self.last = now
        extra = {"loss_history": list(self.losses)} if self.losses else {}
        self.stop = job_progress(
            job=self.job, done=self.offset + progress.done, total=self.offset + progress.total,
            tokens_per_s=round(progress.tokens_per_s, 2), eta_s=progress.eta_s, **extra)


def job_run(*, kind_name: str, job_id: int, work: Callable[[JobBase], bool]) -> str:
    """Run ``work(job)`` as job ``job_id`` of the kind ``kind_name``: mark it running, then succeeded,
    cancelled (``work`` returned False, or training raised ``Cancelled``) or failed (with
    its error and traceback). Returns what happened, for the task's result."""
    from modeling.progress import Cancelled

    job = job_start(model=job_kind(kind_name).model, job_id=job_id)
    if job is None:
        return "skipped"
    try:
        finished = work(job)
    except Cancelled:
        finished = False
    except Exception as exc:
        logger.exception("%s job %s failed", kind_name, job_id)
        job_finish(job=job, status=JobStatus.FAILED, error=exc)
        return "failed"
    status = JobStatus.SUCCEEDED if finished else JobStatus.CANCELLED
    job_finish(job=job, status=status)
    return str(status)
