"""The Hugging Face dataset export of a study (researchers and admins): the study page's
form queues the job; a succeeded job's folder downloads as a .zip, streamed."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from annotations.dataset_export_form import DatasetExportForm
from annotations.errors import DomainError
from annotations.exports import ByteSink
from annotations.forms import errors_text
from annotations.selectors.jobs import study_job_get
from annotations.selectors.studies import study_get
from annotations.services.audit import audit_record
from annotations.services.dataset_export import dataset_export_folder, dataset_export_job_queue
from annotations.views.researcher import study_page
from evalportal.roles import ADMIN, RESEARCHER, role_required

READ_BYTES = 1 << 20


@role_required(RESEARCHER, ADMIN)
@require_POST
def queue_dataset_export(request, slug):
    study = study_get(slug)
    form = DatasetExportForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            job = dataset_export_job_queue(study=study, license_id=data["license"], repo_id=data["repo_id"],
                                           private=not data["public"], actor=request.user)
        except DomainError as exc:
            form.add_error(None, str(exc))
            status = exc.status
        else:
            messages.success(request, f"Queued dataset export #{job.pk}; it is offered for download on Jobs once "
                                      "it is written.")
            return redirect("job-list", slug=slug)
    messages.error(request, "Not queued: " + errors_text(form))
    return study_page(request, study, dataset_export_form=form, status=status)


def folder_zip(folder: Path, prefix: str) -> Iterator[bytes]:
    """The files of ``folder`` as a .zip under the folder name ``prefix``, in chunks of
    about a megabyte: nothing is held but the chunk being read."""
    sink = ByteSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with path.open("rb") as source, archive.open(f"{prefix}/{path.relative_to(folder)}", "w",
                                                         force_zip64=True) as target:
                while block := source.read(READ_BYTES):
                    target.write(block)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


@role_required(RESEARCHER, ADMIN)
def dataset_export_download(request, slug, pk):
    study = study_get(slug)
    job = study_job_get(study, "dataset_export", pk)
    folder = dataset_export_folder(job)
    if folder is None:
        raise Http404("This export has no files to download (not finished, or removed).")
    audit_record(actor=request.user, action="export.dataset", obj=study, summary=f"dataset export #{job.pk} (.zip)")
    name = f"{study.slug}-dataset-{job.pk}"
    response = StreamingHttpResponse(folder_zip(folder, name), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response
