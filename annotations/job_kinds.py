"""The registry of job kinds: every long-running job the portal runs on a Celery worker.

The jobs page, the REST API, cancel, retry and progress all read this one table; a kind
is its job model (a :class:`~annotations.models.jobs.JobBase` subclass), its chunk model
(every job runs as chunks: :mod:`annotations.services.chunks`), the Celery task that runs
one chunk (named here, defined in ``annotations/tasks/<kind>.py``) and the queue it goes
to. ARCHITECTURE.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from annotations.errors import NotFound
from annotations.models import (
    DatasetExportChunk,
    DatasetExportJob,
    GenerationChunk,
    GenerationJob,
    ImportChunk,
    ImportJob,
    JudgeChunk,
    JudgeJob,
    JudgeScore,
    Response,
    TrainingChunk,
    TrainingJob,
)
from annotations.models.jobs import ChunkBase, JobBase
from annotations.queues import DEFAULT_QUEUE, ENDPOINT_QUEUE, GPU_QUEUE


@dataclass(frozen=True)
class JobKind:
    name: str  # in URLs (/studies/<slug>/jobs/<name>/...), audit actions (job.<name>.queue)
    label: str
    model: type[JobBase]
    # A job is cut into these, each a task that any free worker takes (one chunk covering
    # the whole job where the work is not cut by case).
    chunk_model: type[ChunkBase]
    task: str  # the Celery task's name; it takes a chunk's id
    queue: str
    related: tuple[str, ...] = ("created_by",)  # what a row of the jobs page shows besides the job
    # The table a kind's jobs fill by case (its statistics are refreshed after a big job).
    result_model: type | None = None
    # Where the queue depends on the job (a generation job of an endpoint arm, or a judge
    # job of an endpoint judge, needs no GPU).
    route: Callable[[JobBase], str] | None = None

    def queue_for(self, job: JobBase) -> str:
        return self.route(job) if self.route is not None else self.queue

    @property
    def audit_prefix(self) -> str:
        return f"job.{self.name}"


JOB_KINDS: dict[str, JobKind] = {kind.name: kind for kind in (
    JobKind("generation", "Generation", GenerationJob, GenerationChunk,
            "annotations.tasks.generation.run_generation_chunk", GPU_QUEUE, related=("arm", "created_by"),
            result_model=Response, route=lambda job: ENDPOINT_QUEUE if job.arm.is_endpoint else GPU_QUEUE),
    JobKind("training", "Training", TrainingJob, TrainingChunk, "annotations.tasks.training.run_training_chunk",
            GPU_QUEUE, related=("result_arm", "created_by")),
    JobKind("judge", "LLM judge", JudgeJob, JudgeChunk, "annotations.tasks.judging.run_judge_chunk", GPU_QUEUE,
            result_model=JudgeScore,
            route=lambda job: ENDPOINT_QUEUE if job.kind == JudgeJob.Kind.OPENAI else GPU_QUEUE),
    JobKind("import", "Case import", ImportJob, ImportChunk, "annotations.tasks.imports.run_import_chunk",
            DEFAULT_QUEUE),
    JobKind("dataset_export", "Dataset export", DatasetExportJob, DatasetExportChunk,
            "annotations.tasks.dataset_export.run_dataset_export_chunk", DEFAULT_QUEUE),
)}
_BY_MODEL: dict[type, JobKind] = {kind.model: kind for kind in JOB_KINDS.values()}


def job_kind(name: str) -> JobKind:
    """The kind called ``name``; NotFound for any other name (it comes from URLs)."""
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise NotFound(f"No job kind {name!r}.") from None


def kind_of(job: JobBase) -> JobKind:
    return _BY_MODEL[type(job)]
