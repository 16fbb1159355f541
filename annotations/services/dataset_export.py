"""A study published as a Hugging Face dataset in the background: the researcher's form
on the study page queues a job (queue ``default``, one chunk), a worker writes the
dataset (``annotations/hf_dataset.py``) into its own folder under MEDIA_ROOT, offered for
download as a .zip once the job succeeds, and pushes it to the Hub where asked."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotations.hf_dataset import dataset_write, export_request_check
from annotations.models import DatasetExportJob, JobStatus, Study
from annotations.services.chunks import ChunkProgress, chunk_run, chunk_whole_plan
from annotations.services.jobs import job_create


def export_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "dataset_exports"


def dataset_export_job_queue(*, study: Study, license_id: str, repo_id: str = "", private: bool = True,
                             actor=None) -> DatasetExportJob:
    """Queue the export of ``study`` under ``license_id`` (pushed to the Hub repository
    ``repo_id`` where given, created private unless ``private`` is False);
    InvalidRequest for an unknown licence or a malformed repository name."""
    repo_id = repo_id.strip()
    export_request_check(license_id=license_id, repo_id=repo_id)
    with transaction.atomic():
        job = job_create(kind_name="dataset_export", actor=actor, study=study, license=license_id, repo_id=repo_id,
                         private=private)
        chunk_whole_plan(job=job)
        return job


def dataset_export_chunk_run(*, chunk_id: int, worker: str) -> str:
    return chunk_run(kind_name="dataset_export", chunk_id=chunk_id, worker=worker, work=_export)


def _export(job: DatasetExportJob, chunk, progress: ChunkProgress) -> bool:
    out = export_root() / str(job.pk)
    shutil.rmtree(out, ignore_errors=True)  # what an earlier attempt left
    DatasetExportJob.objects.filter(pk=job.pk).update(output_dir=str(out), rows={}, hub_url="")
    try:
        written = dataset_write(job.study, out=out, license_id=job.license, repo_id=job.repo_id,
                                private=job.private, progress=progress.at)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    DatasetExportJob.objects.filter(pk=job.pk).update(rows=written.rows, hub_url=written.hub_url)
    dataset_exports_prune(study=job.study, keeping=job)
    return True


def dataset_exports_prune(*, study: Study, keeping: DatasetExportJob) -> list[int]:
    """Remove the files of the study's older exports beyond the newest
    ``DATASET_EXPORTS_KEPT`` (``keeping``, which has just been written, among them), and
    the folders of exports whose job is gone (a deleted study's); each pruned job keeps
    its row, rows written and Hub page, with no files. Returns the pruned jobs' ids."""
    written = (DatasetExportJob.objects.filter(study=study).exclude(output_dir="").exclude(pk=keeping.pk)
               .order_by("-created_at", "-pk").values_list("pk", "output_dir"))
    pruned = []
    for pk, folder in list(written)[settings.DATASET_EXPORTS_KEPT - 1:]:
        DatasetExportJob.objects.filter(pk=pk).update(output_dir="")
        _folder_remove(Path(folder))
        pruned.append(pk)
    root = export_root()
    named = {int(p.name): p for p in root.iterdir() if p.is_dir() and p.name.isdigit()} if root.is_dir() else {}
    known = set(DatasetExportJob.objects.filter(pk__in=named).values_list("pk", flat=True))
    for pk in named.keys() - known:
        _folder_remove(named[pk])
    return pruned


def _folder_remove(folder: Path) -> None:
    """Remove an export's folder: only ever one directly under the export root."""
    if folder.parent == export_root():
        shutil.rmtree(folder, ignore_errors=True)


def dataset_export_folder(job: DatasetExportJob) -> Path | None:
    """The folder a succeeded export wrote, while it is still there; None otherwise."""
    if job.status != JobStatus.SUCCEEDED or not job.output_dir:
        return None
    folder = Path(job.output_dir)
    return folder if folder.is_dir() and folder.parent == export_root() else None

