"""Case imports in the background: a large upload from the admin page is saved to disk
and imported by a worker (queue ``default``) with a progress bar on the study's jobs
page, instead of inside the request. A job is one chunk (:func:`chunk_whole_plan`), its
units the file's bytes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotations.models import ImportJob, Study
from annotations.services.cases import case_import
from annotations.services.chunks import ChunkProgress, chunk_run, chunk_whole_plan
from annotations.services.jobs import job_create
from modeling.cases import CaseFileError

SHOWN_PROBLEMS = 200


def import_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_job_queue(*, study: Study, upload, actor=None) -> ImportJob:
    """Keep ``upload`` (a Django UploadedFile) on disk and queue its import."""
    path = import_dir() / f"{uuid.uuid4().hex}.jsonl"
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    try:
        with transaction.atomic():
            job = job_create(kind_name="import", actor=actor, study=study, source_name=upload.name[:255],
                             path=str(path), size=upload.size, progress_total=upload.size)
            chunk_whole_plan(job=job, units=upload.size)
            return job
    except Exception:
        path.unlink(missing_ok=True)
        raise


def import_chunk_run(*, chunk_id: int, worker: str) -> str:
    return chunk_run(kind_name="import", chunk_id=chunk_id, worker=worker, work=_import)


def _import(job: ImportJob, chunk, chunk_progress: ChunkProgress) -> bool:
    path = Path(job.path)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        chunk_progress.at(done, total, eta_s=elapsed / done * (total - done) if done else None)

    try:
        with path.open("rb") as stream:
            result = case_import(study=job.study, stream=stream, size=job.size, actor=job.created_by,
                                 source_name=job.source_name, progress=progress)
    except CaseFileError as exc:
        ImportJob.objects.filter(pk=job.pk).update(problems=[str(e) for e in exc.errors[:SHOWN_PROBLEMS]],
                                                   problem_total=exc.total)
        raise
    ImportJob.objects.filter(pk=job.pk).update(result={
        "message": result.message, "created": result.created, "unchanged": result.unchanged,
        "assigned_splits": result.assigned_splits, "split_seed": result.split_seed, "warnings": result.warnings})
    path.unlink(missing_ok=True)
    return True
