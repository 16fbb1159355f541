"""The study-level choice of what the automatic metrics read "was the planted problem
named" from: the terms (ConText, :mod:`modeling.planted`), or a finished judge job's
planted reading (:class:`~annotations.models.judge.JudgePlantedReading`)."""

from __future__ import annotations

from django.db import transaction

from annotations.errors import InvalidRequest, JobStateError
from annotations.ids import strict_id
from annotations.models import JobStatus, Study
from annotations.models.judge import JudgeJob
from annotations.selectors.readings import reading_source
from annotations.services.aggregation import aggregation_request
from annotations.services.audit import audit_record


def study_planted_reading_set(*, study: Study, job_id: int | None, actor=None) -> bool:
    """Make the study's automatic metrics read the planted problem from judge job
    ``job_id`` (one of the study's, finished, that read planted problems), or from the
    terms when None; then ask for the analysis to be recomputed. Returns whether the
    recomputation is queued (False when the task queue is unreachable)."""
    job = None
    if job_id is not None:
        job = JudgeJob.objects.filter(study=study, pk=job_id).first() if strict_id(job_id) is not None else None
        if job is None or not job.planted:
            raise InvalidRequest(f"Judge job #{job_id} of this study did not read planted problems.")
        if job.status != JobStatus.SUCCEEDED:
            raise JobStateError(f"Judge job #{job.pk} has not finished ({job.get_status_display().lower()}).")
    before = study.planted_reading_job_id
    with transaction.atomic():
        Study.objects.filter(pk=study.pk).update(planted_reading_job=job)
        study.planted_reading_job = job
        audit_record(actor=actor, action="study.planted_reading", obj=study, summary=reading_source(job)["label"],
                     before={"planted_reading_job": before}, after={"planted_reading_job": job.pk if job else None})
    return aggregation_request(study_id=study.pk, countdown=0)
