"""The life of a job of any kind (:mod:`annotations.job_kinds`): queue, cancel, retry.
Every job runs as chunks (one, for a kind whose work is not cut by case), each a Celery
task run by :func:`annotations.services.chunks.chunk_run`.

A job row is only ever left "queued" when its Celery message was accepted by the broker:
the message is sent once the job's transaction has committed, and if the broker cannot
be reached the job is put back exactly as it was (a new job is removed again) and the
caller gets :class:`~annotations.errors.QueueUnavailable`.

Each message carries the task id its chunk was last sent under (:func:`chunk_task_id`),
and each run holds a token: a message of an earlier send, or a run whose chunk has since
passed to another (a retry or a cancel after its worker was lost), changes nothing. A
running chunk beats; a job one of whose chunks stopped beating for longer than
JOB_WORKER_LOST_S is shown as "worker lost" and can be cancelled or retried at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotations.errors import JobStateError, QueueUnavailable
from annotations.job_kinds import JobKind, job_kind, kind_of
from annotations.models import JobStatus
from annotations.models.jobs import ACTIVE_STATUSES, RETRYABLE_STATUSES, JobBase, worker_lost_q
from annotations.services.audit import audit_record
from annotations.services.queue import tasks_revoke, tasks_send

logger = logging.getLogger(__name__)


def _creator(actor):
    return actor if actor is not None and actor.pk else None


def _new_task_id() -> str:
    """A job's task id, given once: its chunks' ids derive from it."""
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
    """Hand the job to the broker: one message for each chunk of ``chunk_pks`` (default:
    every queued chunk), under the chunk's task id."""
    kind = kind_of(job)
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
    chunks = list(kind.chunk_model.objects.filter(job=job))
    chunk_fields = [f.name for f in kind.chunk_model._meta.concrete_fields if not f.primary_key]

    def restore() -> None:
        with transaction.atomic():
            model.objects.filter(pk=job.pk).update(**{f.attname: getattr(saved, f.attname) for f in fields})
            if chunks:
                kind.chunk_model.objects.bulk_update(chunks, chunk_fields, batch_size=200)
    return restore


def job_enqueue(*, job: JobBase, actor, action: str, undo: Callable[[], None],
                chunk_pks: list[int] | None = None) -> None:
    """Send ``job``'s chunks of ``chunk_pks`` (by default its queued ones) to its kind's
    task once the current transaction commits (call inside it). If the broker is
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
    the caller's transaction, which plans the job's chunks too:
    :func:`~annotations.services.chunks.chunks_plan`, or
    :func:`~annotations.services.chunks.chunk_whole_plan` for one chunk; they are sent
    once it commits, under task ids derived from the job's)."""
    kind = job_kind(kind_name)
    job = kind.model.objects.create(created_by=_creator(actor), celery_task_id=_new_task_id(), **fields)
    job_enqueue(job=job, actor=actor, action="queue", undo=lambda: kind.model.objects.filter(pk=job.pk).delete())
    return job


def _lost_chunks(job: JobBase, kind: JobKind):
    """The job's running chunks whose worker was lost."""
    return kind.chunk_model.objects.filter(worker_lost_q(), job=job)


def job_cancel(*, job: JobBase, actor=None) -> None:
    """Ask a job to stop. Its chunks not started yet stop at once; running ones between
    batches, keeping what they wrote; the job ends when none runs any more. A chunk whose
    worker was lost stops at once too: nobody is left to read the request."""
    kind = kind_of(job)
    revoke = []
    now = timezone.now()
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        if locked.status not in ACTIVE_STATUSES:
            raise JobStateError(f"Job {job.pk} is {locked.status}; only queued or running jobs can be cancelled.")
        locked.cancel_requested = True
        fields = ["cancel_requested"]
        queued = kind.chunk_model.objects.filter(job=locked, status=JobStatus.QUEUED)
        lost = _lost_chunks(locked, kind)
        revoke = [*_chunk_task_ids(locked, queued), *_chunk_task_ids(locked, lost)]
        queued.update(status=JobStatus.CANCELLED, finished_at=now)
        lost.update(status=JobStatus.CANCELLED, finished_at=now, run_token="")
        if not kind.chunk_model.objects.filter(job=locked, status=JobStatus.RUNNING).exists():
            locked.status, locked.finished_at = JobStatus.CANCELLED, now
            fields += ["status", "finished_at"]
        locked.save(update_fields=fields)
        audit_record(actor=actor, action=f"{kind.audit_prefix}.cancel", obj=locked, summary=str(locked))
    if revoke and not tasks_revoke(revoke):
        logger.warning("could not revoke tasks %s", revoke[:5])
    job.refresh_from_db()


def job_retry(*, job: JobBase, actor=None) -> None:
    """Queue a failed or cancelled job again: its chunks that did not finish, to its own
    kind's task; it resumes where it stopped. Of a running job, the chunks whose worker
    was lost are queued again. If the broker cannot be reached the job stays exactly as
    it was."""
    kind = kind_of(job)
    with transaction.atomic():
        locked = type(job).objects.select_for_update().get(pk=job.pk)
        undo = _restorer(locked)
        lost = locked.status == JobStatus.RUNNING and not locked.cancel_requested and _lost_chunks(locked, kind).exists()
        if locked.status not in RETRYABLE_STATUSES and not lost:
            raise JobStateError(f"Job {job.pk} is {locked.status}; only failed or cancelled jobs can be retried "
                                f"(or a running one whose worker was lost).")
        status = JobStatus.QUEUED
        locked.celery_task_id = locked.celery_task_id or _new_task_id()  # given once
        again = _lost_chunks(locked, kind) if lost else kind.chunk_model.objects.filter(
            job=locked, status__in=RETRYABLE_STATUSES)
        again_pks = list(again.values_list("pk", flat=True))
        kind.chunk_model.objects.filter(pk__in=again_pks).update(
            status=JobStatus.QUEUED, error="", finished_at=None, run_token="", sends=F("sends") + 1)
        if kind.chunk_model.objects.filter(job=locked, status=JobStatus.RUNNING).exists():
            status = JobStatus.RUNNING  # other workers still hold some of its chunks
        locked.status, locked.cancel_requested = status, False
        locked.error = locked.traceback = ""
        locked.finished_at = None
        locked.save(update_fields=["status", "cancel_requested", "error", "traceback", "finished_at",
                                   "celery_task_id"])
        job_enqueue(job=locked, actor=actor, action="retry", undo=undo, chunk_pks=again_pks)
    job.refresh_from_db()
