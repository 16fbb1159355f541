"""The life of a job of any kind (:mod:`annotations.job_kinds`): queue, cancel, retry,
and the frame every job's runner works in (start, heartbeat, progress, finish).

A job row is only ever left "queued" when its Celery message was accepted by the broker:
the message is sent once the job's transaction has committed, and if the broker cannot
be reached the job is put back exactly as it was (a new job is removed again) and the
caller gets :class:`~annotations.errors.QueueUnavailable`.

Each message carries the task id its job (or chunk) was last sent under, and each run
holds a token: a message of an earlier send, or a run whose job has since passed to
another (a retry or a cancel after its worker was lost), changes nothing. A running job
beats (:class:`Heartbeat`); one whose worker stopped beating for longer than
JOB_WORKER_LOST_S is shown as "worker lost" and can be cancelled or retried at once.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback as traceback_module
import uuid
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from annotations import worker_runtime
from annotations.errors import JobStateError, QueueUnavailable
from annotations.job_kinds import JobKind, job_kind, kind_of
from annotations.models import JobStatus
from annotations.models.jobs import ACTIVE_STATUSES, RETRYABLE_STATUSES, JobBase, heartbeat_every_s, worker_lost_q
from annotations.services.audit import audit_record
from annotations.services.queue import current_task_id, task_send, tasks_revoke, tasks_send

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0


class RunLost(Exception):
    """The job or chunk this run worked on has passed to another run (or was ended while
    its worker was taken for lost): the run stops and writes nothing more."""


def _creator(actor):
    return actor if actor is not None and actor.pk else None


def _new_task_id() -> str:
    """A job's task id, new at every send (a worker discards a message whose id it once
    revoked); a chunked job's is given once, and its chunks' ids derive from it."""
    return uuid.uuid4().hex


def chunk_task_id(job_task_id: str, index: int, sends: int) -> str:
    """The task id chunk ``index`` of a job was last sent under, from the job's task id
    and how often a retry sent the chunk again: new at each send, and the same as long as
    the chunk is not sent again (a message redelivered after its worker died still
    takes the chunk over)."""
    return f"{job_task_id}.{index}" + (f".{sends}" if sends else "")


def _chunk_task_ids(job: JobBase, chunks) -> list[str]:
    """The task ids of ``chunks`` (a queryset of the job's chunks)."""
    return [chunk_task_id(job.celery_task_id, index, sends) for index, sends in chunks.values_list("index", "sends")]


def _send(job: JobBase, chunk_pks: list[int] | None = None) -> None:
    """Hand the job to the broker under the task id it holds: one message for the job, or
    one for each chunk of ``chunk_pks`` (default: every queued chunk)."""
    kind = kind_of(job)
    if kind.chunk_model is None:
        task_send(kind.task, args=[job.pk], queue=kind.queue_for(job), task_id=job.celery_task_id)
        return
    chunks = kind.chunk_model.objects.filter(job=job)
    chunks = chunks.filter(pk__in=chunk_pks) if chunk_pks is not None else chunks.filter(status=JobStatus.QUEUED)
    rows = list(chunks.order_by("index").values_list("pk", "index", "sends"))
    tasks_send(kind.task, args_list=[[pk] for pk, _, _ in rows], queue=kind.queue_for(job),
               task_ids=[chunk_task_id(job.celery_task_id, index, sends) for _, index, sends in rows])


def _restorer(job: JobBase) -> Callable[[], None]:
    """Something that puts the job and its chunks back as they are now, every field."""
    kind = kind_of(job)
    model = type(job)
    saved = model.objects.get(pk=job.pk)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    chunks = list(kind.chunk_model.objects.filter(job=job)) if kind.chunk_model is not None else []
    chunk_fields = [f.name for f in kind.chunk_model._meta.concrete_fields if not f.primary_key] if chunks else []

    def restore() -> None:
        with transaction.atomic():
            model.objects.filter(pk=job.pk).update(**{f.attname: getattr(saved, f.attname) for f in fields})
            if chunks:
                kind.chunk_model.objects.bulk_update(chunks, chunk_fields, batch_size=200)
    return restore


def job_enqueue(*, job: JobBase, actor, action: str, undo: Callable[[], None],
                chunk_pks: list[int] | None = None) -> None:
    """Send ``job`` (or its chunks of ``chunk_pks``, by default its queued ones) to its
    kind's task once the current transaction commits (call inside it). If the broker is
    unreachable, ``undo()`` puts back what the transaction changed and QueueUnavailable
    is raised."""
    kind = kind_of(job)

    def send() -> None:
        try:
            _send(job, chunk_pks)
        except QueueUnavailable:
            undo()
            raise
        audit_record(actor=actor, action=f"{kind.audit_prefix}.{action}", obj=job, summary=str(job),
                     after={"task": job.celery_task_id})

    transaction.on_commit(send)


def job_create(*, kind_name: str, actor, **fields) -> JobBase:
    """Create a job of the kind called ``kind_name`` with ``fields`` and queue it (inside
    the caller's transaction; a chunked kind's chunks are planned in it too, and take
    their task ids from the job's)."""
    kind = job_kind(kind_name)
    job = kind.model.objects.create(created_by=_creator(actor), celery_task_id=_new_task_id(), **fields)
    job_enqueue(job=job, actor=actor, action="queue", undo=lambda: kind.model.objects.filter(pk=job.pk).delete())
    return job


def _lost_chunks(job: JobBase, kind: JobKind):
    """The job's running chunks whose worker was lost."""
    return kind.chunk_model.objects.filter(worker_lost_q(), job=job)


def _worker_lost(job: JobBase, kind: JobKind) -> bool:
    """Whether a running job's worker was lost (of a chunked job, a chunk's)."""
    if kind.chunk_model is not None:
        return _lost_chunks(job, kind).exists()
    return type(job).objects.filter(worker_lost_q(), pk=job.pk).exists()


def job_cancel(*, job: JobBase, actor=None) -> None:
    """Ask a job to stop. A queued job stops at once; a running one between batches,
    keeping what it wrote; of a chunked job, the chunks not started yet stop at once.
    Work whose worker was lost stops at once too: nobody is left to read the request."""
    kind = kind_of(job)
    revoke = []
    now = timezone.now()
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        if locked.status not in ACTIVE_STATUSES:
            raise JobStateError(f"Job {job.pk} is {locked.status}; only queued or running jobs can be cancelled.")
        locked.cancel_requested = True
        fields = ["cancel_requested"]
        if kind.chunk_model is not None:
            queued = kind.chunk_model.objects.filter(job=locked, status=JobStatus.QUEUED)
            lost = _lost_chunks(locked, kind)
            revoke = [*_chunk_task_ids(locked, queued), *_chunk_task_ids(locked, lost)]
            queued.update(status=JobStatus.CANCELLED, finished_at=now)
            lost.update(status=JobStatus.CANCELLED, finished_at=now, run_token="")
            running = kind.chunk_model.objects.filter(job=locked, status=JobStatus.RUNNING).exists()
        else:
            running = locked.status == JobStatus.RUNNING and not _worker_lost(locked, kind)
            revoke = [locked.celery_task_id] if locked.celery_task_id and not running else []
        if not running:
            locked.status, locked.finished_at, locked.run_token = JobStatus.CANCELLED, now, ""
            fields += ["status", "finished_at", "run_token"]
        locked.save(update_fields=fields)
        audit_record(actor=actor, action=f"{kind.audit_prefix}.cancel", obj=locked, summary=str(locked))
    if revoke and not tasks_revoke(revoke):
        logger.warning("could not revoke tasks %s", revoke[:5])
    job.refresh_from_db()


def job_retry(*, job: JobBase, actor=None) -> None:
    """Queue a failed or cancelled job again, to its own kind's task (of a chunked job,
    the chunks that did not finish); it resumes where it stopped. A running job whose
    worker was lost is queued again too (of a chunked job, the chunks that worker held).
    If the broker cannot be reached the job stays exactly as it was."""
    kind = kind_of(job)
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        undo = _restorer(locked)
        lost = locked.status == JobStatus.RUNNING and not locked.cancel_requested and _worker_lost(locked, kind)
        if locked.status not in RETRYABLE_STATUSES and not lost:
            raise JobStateError(f"Job {job.pk} is {locked.status}; only failed or cancelled jobs can be retried "
                                f"(or a running one whose worker was lost).")
        status, again_pks = JobStatus.QUEUED, None
        if kind.chunk_model is None or not locked.celery_task_id:  # a chunked job's is given once
            locked.celery_task_id = _new_task_id()
        if kind.chunk_model is not None:
            again = _lost_chunks(locked, kind) if lost else kind.chunk_model.objects.filter(
                job=locked, status__in=RETRYABLE_STATUSES)
            again_pks = list(again.values_list("pk", flat=True))
            kind.chunk_model.objects.filter(pk__in=again_pks).update(
                status=JobStatus.QUEUED, error="", finished_at=None, run_token="", sends=F("sends") + 1)
            if kind.chunk_model.objects.filter(job=locked, status=JobStatus.RUNNING).exists():
                status = JobStatus.RUNNING  # other workers still hold some of its chunks
        locked.status, locked.cancel_requested, locked.run_token = status, False, ""
        locked.error = locked.traceback = ""
        locked.finished_at = None
        locked.save(update_fields=["status", "cancel_requested", "run_token", "error", "traceback", "finished_at",
                                   "celery_task_id"])
        job_enqueue(job=locked, actor=actor, action="retry", undo=undo, chunk_pks=again_pks)
    job.refresh_from_db()


# --- the runner's side ---------------------------------------------------------------------

class Heartbeat:
    """While a job or chunk runs, a thread writes its ``heartbeat_at`` every few seconds,
    so a worker busy on one long batch (a slow endpoint, a long training step) still shows
    it is alive. It stops once the row has passed to another run."""

    def __init__(self, model, pk: int, token: str):
        self.model, self.pk, self.token = model, pk, token
        self.every = heartbeat_every_s()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    held = self.model.objects.filter(pk=self.pk, run_token=self.token, status=JobStatus.RUNNING
                                                     ).update(heartbeat_at=timezone.now())
                except Exception:  # the database away for a moment: the next beat may get through
                    logger.warning("heartbeat of %s %s not written", self.model.__name__, self.pk, exc_info=True)
                    continue
                if not held:
                    return
        finally:
            connection.close()  # this thread's own connection


def job_start(*, model: type[JobBase], job_id: int, task_id: str | None = None) -> JobBase | None:
    """Mark a job running on this worker, held by a new run token; None when it should
    not run (cancelled, finished, gone, or sent again since ``task_id``, by default the
    current Celery message's, was). A message sent again for a job still running (its
    worker died before acknowledging it) takes the job over."""
    task_id = current_task_id() if task_id is None else task_id
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in ACTIVE_STATUSES:
            return None
        if task_id and job.celery_task_id and task_id != job.celery_task_id:
            return None
        if job.cancel_requested:
            job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
            job.save(update_fields=["status", "finished_at"])
            return None
        job.status, job.run_token = JobStatus.RUNNING, uuid.uuid4().hex
        job.started_at = job.started_at or timezone.now()
        job.heartbeat_at = timezone.now()
        job.worker_host, job.device_name = worker_runtime.worker_host(), worker_runtime.device_name()
        job.attempts += 1
        job.save(update_fields=["status", "run_token", "started_at", "heartbeat_at", "worker_host", "device_name",
                                "attempts"])
    return job


def _held(job: JobBase):
    """The job's row, as long as this run holds it (any run, for a job not started here)."""
    rows = type(job).objects.filter(pk=job.pk)
    return rows.filter(run_token=job.run_token) if job.run_token else rows


def job_progress(*, job: JobBase, done: int | None = None, total: int | None = None,
                 tokens_per_s: float | None = None, eta_s: float | None = None, **extra) -> bool:
    """Store progress; returns True when the job was asked to stop. Raises RunLost when
    the job has passed to another run."""
    updates = {k: v for k, v in {"progress_done": done, "progress_total": total, "tokens_per_s": tokens_per_s,
                                 "eta_s": eta_s, **extra}.items() if v is not None}
    held = _held(job)
    still_held = held.update(**updates) if updates else held.exists()
    if not still_held:
        raise RunLost(f"{job} has passed to another run")
    return held.filter(cancel_requested=True).exists()


def job_finish(*, job: JobBase, status: str, error: BaseException | None = None) -> bool:
    """End the job (as long as this run holds it); False when it had passed to another."""
    updates = {"status": status, "finished_at": timezone.now()}
    if error is not None:
        updates["error"] = f"{error.__class__.__name__}: {error}"[:5000]
        updates["traceback"] = "".join(traceback_module.format_exception(error))[-20000:]
    if status == JobStatus.SUCCEEDED:
        updates["eta_s"] = 0
    if not _held(job).update(**updates):
        return False
    audit_record(actor=None, action=f"job.{status}", obj=job, summary=f"{job}: {updates.get('error', status)}")
    return True


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


def job_run(*, kind_name: str, job_id: int, work: Callable[[JobBase], bool], task_id: str | None = None) -> str:
    """Run ``work(job)`` as job ``job_id`` of the kind ``kind_name``: mark it running, then succeeded,
    cancelled (``work`` returned False, or training raised ``Cancelled``) or failed (with
    its error and traceback). ``task_id`` as for :func:`job_start`. Returns what
    happened, for the task's result ("superseded" when the job passed to another run
    meanwhile)."""
    from modeling.progress import Cancelled

    job = job_start(model=job_kind(kind_name).model, job_id=job_id, task_id=task_id)
    if job is None:
        return "skipped"
    with Heartbeat(type(job), job.pk, job.run_token):
        try:
            finished = work(job)
        except RunLost:
            return "superseded"
        except Cancelled:
            finished = False
        except Exception as exc:
            logger.exception("%s job %s failed", kind_name, job_id)
            return "failed" if job_finish(job=job, status=JobStatus.FAILED, error=exc) else "superseded"
    status = JobStatus.SUCCEEDED if finished else JobStatus.CANCELLED
    return str(status) if job_finish(job=job, status=status) else "superseded"
