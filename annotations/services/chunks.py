"""The runner of every job: jobs cut into chunks that any free worker takes.

A generation or judge job's chunk covers the job's cases with ids from ``first_case_id``
to ``last_case_id``; a job of 150,000 cases is a few hundred chunk rows, not a row per
case. A training job or an import is one chunk with no case range
(:func:`chunk_whole_plan`). Each chunk is its own Celery task: N GPU workers share a job,
a worker killed mid-chunk has its message redelivered (acks late), and the chunk runs
again, skipping what it wrote (writes are idempotent per (job, case)). The job's
progress is the sum over its chunks; when the last chunk ends, the job ends: succeeded,
or failed or cancelled if a chunk was.

A running chunk beats (:class:`Heartbeat`) and is held by its run's token: once its
worker is taken for lost, a cancel ends it and a retry sends it again at once, and
whatever the lost worker (or its message, delivered late) does afterwards changes nothing
(:class:`RunLost`).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback as traceback_module
import uuid
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from annotations import worker_runtime
from annotations.job_kinds import job_kind, kind_of
from annotations.models import JobStatus
from annotations.models.jobs import ACTIVE_STATUSES, ChunkBase, JobBase, heartbeat_every_s
from annotations.services.audit import audit_record
from annotations.services.jobs import chunk_task_id
from annotations.services.queue import current_task_id
from evalportal import sql
from modeling.progress import Cancelled

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0


class RunLost(Exception):
    """The chunk this run worked on has passed to another run (or was ended while its
    worker was taken for lost): the run stops and writes nothing more."""


def chunks_plan(*, job: JobBase, case_ids: Sequence[int], units: Callable[[list[int]], int] = len,
                size: int | None = None) -> int:
    """Cut the job's cases (ids, sorted) into chunks of ``size`` cases (the
    JOB_CHUNK_CASES setting); ``units(ids)`` is the work a chunk holds (default: its
    cases). Each chunk is sent under :func:`~annotations.services.jobs.chunk_task_id`. Returns the job's total
    units. Call inside the job's transaction."""
    size = size or settings.JOB_CHUNK_CASES
    model = kind_of(job).chunk_model
    chunks, total = [], 0
    for index, start in enumerate(range(0, len(case_ids), size)):
        ids = list(case_ids[start:start + size])
        n = units(ids)
        chunks.append(model(job=job, index=index, first_case_id=ids[0], last_case_id=ids[-1], units=n))
        total += n
    model.objects.bulk_create(chunks, batch_size=1000)
    return total


def chunk_whole_plan(*, job: JobBase, units: int = 0) -> None:
    """Plan the job as one chunk with no case range, covering the whole job (a kind whose
    work is not cut by case: training, an import); ``units`` is its work, where known
    before it runs. Call inside the job's transaction."""
    kind_of(job).chunk_model.objects.create(job=job, index=0, units=units)


class ChunkProgress:
    """What a chunk's work reports as it goes, written to the chunk and to its job at most
    once a second, each write reading the job's cancel flag (:attr:`stop`). A chunk of
    many counts what it adds (:meth:`add`: the job's figures are the sums over its
    chunks); a job of one chunk reports where it stands (:meth:`at`), and the object is
    the ``modeling`` progress callback training calls (done and total steps, tokens/s,
    ETA, the loss history). Every write raises RunLost once the chunk has passed to
    another run."""

    def __init__(self, job: JobBase, chunk: ChunkBase):
        self.job, self.chunk = job, chunk
        self.model = type(chunk)
        # The job's sums are written a second into the chunk and when it ends: a chunk
        # that ends sooner writes them once. Where a job stands is written at once.
        self.last = time.monotonic()
        self.reported = 0.0
        self.stop = False
        self.losses: list[float] = []

    def _held(self):
        """The chunk's row, as long as this run holds it."""
        return self.model.objects.filter(pk=self.chunk.pk, run_token=self.chunk.run_token)

    def _lost(self) -> RunLost:
        return RunLost(f"chunk {self.chunk.index} of {self.job} has passed to another run")

    def _cancel_read(self) -> bool:
        self.stop = type(self.job).objects.filter(pk=self.job.pk, cancel_requested=True).exists()
        return self.stop

    def start_at(self, done: int, units: int | None = None) -> None:
        """What an earlier attempt of this chunk already wrote (and, where the chunk's
        work is counted only now, its ``units``)."""
        values = {"done": done} if units is None else {"done": done, "units": units}
        if not self._held().update(**values):
            raise self._lost()

    def add(self, units: int, tokens: int = 0) -> bool:
        """Count ``units`` done (inside the batch's transaction, which a RunLost then
        rolls back); True once the job was asked to stop."""
        if not self._held().update(done=F("done") + units, tokens=F("tokens") + tokens):
            raise self._lost()
        self.job_sums_write()
        return self._cancel_read()

    def at(self, done: int, total: int, *, tokens_per_s: float | None = None, eta_s: float | None = None,
           **job_fields) -> bool:
        """Where a one-chunk job stands: ``done`` of ``total`` units, its rate, its ETA and
        what else its job shows (``job_fields``, such as a loss history), written at most
        once a second and always when done reaches total; True once the job was asked to
        stop."""
        now = time.monotonic()
        if self.reported and now - self.reported < PROGRESS_EVERY_S and done < total:
            return self.stop
        self.reported = now
        job_values = {k: v for k, v in {"progress_done": done, "progress_total": total, "tokens_per_s": tokens_per_s,
                                        "eta_s": eta_s, **job_fields}.items() if v is not None}
        with transaction.atomic():
            if not self._held().update(done=done, units=total):
                raise self._lost()
            type(self.job).objects.filter(pk=self.job.pk).update(**job_values)
        return self._cancel_read()

    def __call__(self, progress) -> None:
        """The ``modeling`` progress callback (:class:`modeling.progress.Progress`)."""
        if progress.loss is not None and len(self.losses) < progress.done:
            self.losses.append(round(progress.loss, 5))
        extra = {"loss_history": list(self.losses)} if self.losses else {}
        self.at(progress.done, progress.total, tokens_per_s=round(progress.tokens_per_s, 2), eta_s=progress.eta_s,
                **extra)

    def job_sums_write(self, force: bool = False) -> None:
        """Sum the job's chunks into its progress (at most once a second unless ``force``).
        A job whose chunks count no tokens keeps the rate its work reported."""
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        job_model = type(self.job)
        totals = self.model.objects.filter(job=self.job).aggregate(done=Sum("done"), tokens=Sum("tokens"),
                                                                   units=Sum("units"))
        done, units, tokens = totals["done"] or 0, totals["units"] or 0, totals["tokens"] or 0
        started = job_model.objects.filter(pk=self.job.pk).values_list("started_at", flat=True).first()
        elapsed = (timezone.now() - started).total_seconds() if started else 0
        rate = done / elapsed if elapsed > 0 else 0
        values = {"progress_done": done, "progress_total": units, "eta_s": (units - done) / rate if rate else None}
        if tokens:
            values["tokens_per_s"] = round(tokens / elapsed, 2) if elapsed > 0 else None
        job_model.objects.filter(pk=self.job.pk).update(**values)


class Heartbeat:
    """While a chunk runs, a thread writes its ``heartbeat_at`` every few seconds, so a
    worker busy on one long batch (a slow endpoint, a long training step) still shows it
    is alive. It stops once the chunk has passed to another run."""

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


def _chunk_take(kind, chunk_id: int, worker: str, task_id: str):
    """Under the chunk's and the job's row locks: ``(job, chunk, outcome)``, where the
    outcome is None when this run now holds the chunk, else what to answer. Only a queued
    chunk runs, or a running one whose message came again (its worker is presumed lost:
    if it is not, it stops at its next write), and only for the message it was last sent
    with."""
    chunk = kind.chunk_model.objects.select_for_update().filter(pk=chunk_id).select_related("job").first()
    if chunk is not None and task_id and chunk.job.celery_task_id and task_id != chunk_task_id(
            chunk.job.celery_task_id, chunk.index, chunk.sends):
        return None, chunk, "superseded"
    if chunk is None or chunk.status == JobStatus.SUCCEEDED:
        return None, chunk, "skipped"
    job = kind.model.objects.select_for_update().get(pk=chunk.job_id)
    if job.cancel_requested or job.status == JobStatus.CANCELLED:
        if chunk.status in ACTIVE_STATUSES:
            chunk.status, chunk.finished_at, chunk.run_token = JobStatus.CANCELLED, timezone.now(), ""
            chunk.save(update_fields=["status", "finished_at", "run_token"])
        return job, chunk, "cancelled"
    if job.status not in ACTIVE_STATUSES or chunk.status not in ACTIVE_STATUSES:
        return job, chunk, "skipped"
    now = timezone.now()
    chunk.status, chunk.worker, chunk.attempts = JobStatus.RUNNING, worker[:200], chunk.attempts + 1
    chunk.started_at = chunk.heartbeat_at = now
    chunk.run_token = uuid.uuid4().hex
    chunk.save(update_fields=["status", "worker", "attempts", "started_at", "heartbeat_at", "run_token"])
    if job.status != JobStatus.RUNNING:
        job.status, job.started_at = JobStatus.RUNNING, job.started_at or now
        job.worker_host, job.device_name = worker_runtime.worker_host(), worker_runtime.device_name()
        job.attempts += 1
        job.save(update_fields=["status", "started_at", "worker_host", "device_name", "attempts"])
    return job, chunk, None


def chunk_run(*, kind_name: str, chunk_id: int, worker: str,
              work: Callable[[JobBase, ChunkBase, ChunkProgress], bool],
              on_success: Callable[[JobBase], None] | None = None, task_id: str | None = None) -> str:
    """Run ``work(job, chunk, progress)`` as chunk ``chunk_id``: mark it (and its job, if
    first) running, then succeeded, cancelled (``work`` returned False, or training
    raised ``Cancelled``) or failed; then end the job if this was its last chunk
    (``on_success(job)`` after the last chunk of a job that succeeded). ``task_id`` (by default the current Celery message's) must be
    the one the chunk was last sent under. Returns what happened to the chunk
    ("superseded" when another run or a later message has it)."""
    kind = job_kind(kind_name)
    with transaction.atomic():
        job, chunk, outcome = _chunk_take(kind, chunk_id, worker, current_task_id() if task_id is None else task_id)
    if outcome == "cancelled":
        job_settle(job=job, on_success=on_success)
    if outcome is not None:
        return outcome
    held = kind.chunk_model.objects.filter(pk=chunk.pk, run_token=chunk.run_token)
    progress = ChunkProgress(job, chunk)
    with Heartbeat(kind.chunk_model, chunk.pk, chunk.run_token):
        try:
            finished = work(job, chunk, progress)
        except RunLost:
            return "superseded"
        except Cancelled:
            finished = False
        except Exception as exc:
            logger.exception("%s job %s, chunk %s failed", kind_name, job.pk, chunk.index)
            if not held.update(status=JobStatus.FAILED, finished_at=timezone.now(),
                               error=f"{exc.__class__.__name__}: {exc}"[:5000]):
                return "superseded"
            job_settle(job=job, on_success=on_success, error=exc)
            return "failed"
    status = JobStatus.SUCCEEDED if finished else JobStatus.CANCELLED
    with transaction.atomic():  # the chunk's end, the job's sums and perhaps the job's end: one commit
        if not held.update(status=status, finished_at=timezone.now()):
            return "superseded"
        job_settle(job=job, on_success=on_success, progress=progress)
    return str(status)


def _job_finish(*, job: JobBase, status: str, error: BaseException | None = None) -> None:
    """End the job (under its row lock, in :func:`job_settle`)."""
    updates = {"status": status, "finished_at": timezone.now()}
    if error is not None:
        updates["error"] = f"{error.__class__.__name__}: {error}"[:5000]
        updates["traceback"] = "".join(traceback_module.format_exception(error))[-20000:]
    if status == JobStatus.SUCCEEDED:
        updates["eta_s"] = 0
    type(job).objects.filter(pk=job.pk).update(**updates)
    audit_record(actor=None, action=f"job.{status}", obj=job, summary=f"{job}: {updates.get('error', status)}")


class ChunksFailed(RuntimeError):
    """Some chunks of a job failed; the job's error names how many and the first."""


def job_settle(*, job: JobBase, on_success: Callable[[JobBase], None] | None = None,
               error: BaseException | None = None, progress: ChunkProgress | None = None) -> None:
    """End the job once none of its chunks is queued or running: failed if a chunk
    failed (with ``error``'s traceback, the last chunk's), cancelled if one was, else
    succeeded (after ``on_success``). Under the job's row lock, so the chunks that end
    together end the job once; with ``progress`` (a chunk that ends), the job's sums are
    written first under the same lock, so the last chunk's sums are the final ones."""
    kind = kind_of(job)
    with transaction.atomic():
        locked = kind.model.objects.select_for_update().get(pk=job.pk)
        if progress is not None:
            progress.job_sums_write(force=True)
            locked.refresh_from_db(fields=["progress_done", "progress_total", "eta_s", "tokens_per_s"])
        counts = kind.chunk_model.objects.filter(job=locked).aggregate(
            active=Count("pk", filter=Q(status__in=ACTIVE_STATUSES)),
            failed=Count("pk", filter=Q(status=JobStatus.FAILED)),
            cancelled=Count("pk", filter=Q(status=JobStatus.CANCELLED)), all=Count("pk"))
        if counts["active"] or locked.status not in ACTIVE_STATUSES:
            return
        if counts["failed"]:
            first = kind.chunk_model.objects.filter(job=locked, status=JobStatus.FAILED).order_by("index").first()
            failure = ChunksFailed(f"{counts['failed']} of {counts['all']} chunks failed; the first "
                                   f"(#{first.index}): {first.error}")
            failure.__traceback__ = error.__traceback__ if error is not None else None
            if counts["all"] == 1 and error is not None:  # a one-chunk job's error is its chunk's
                failure = error
            _job_finish(job=locked, status=JobStatus.FAILED, error=failure)
        elif counts["cancelled"]:
            _job_finish(job=locked, status=JobStatus.CANCELLED)
        else:
            if on_success is not None:
                on_success(locked)
            _job_finish(job=locked, status=JobStatus.SUCCEEDED)
        if (locked.progress_total or 0) >= sql.BULK_LOAD_ROWS and kind.result_model is not None:
            transaction.on_commit(lambda: sql.statistics_refresh(kind.result_model))
