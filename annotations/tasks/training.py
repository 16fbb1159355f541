from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.training import training_job_run


@shared_task(name=JOB_KINDS["training"].task)
def run_training_job(job_id: int) -> str:
    return training_job_run(job_id=job_id)
