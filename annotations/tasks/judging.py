from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.judging import judge_job_run


@shared_task(name=JOB_KINDS["judge"].task)
def run_judge_job(job_id: int) -> str:
    return judge_job_run(job_id=job_id)
