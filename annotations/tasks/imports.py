from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.imports import import_job_run


@shared_task(name=JOB_KINDS["import"].task)
def run_import_job(job_id: int) -> str:
    return import_job_run(job_id=job_id)
