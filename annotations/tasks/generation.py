from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.generation import generation_job_run


@shared_task(name=JOB_KINDS["generation"].task)
def run_generation_job(job_id: int) -> str:
    return generation_job_run(job_id=job_id)
