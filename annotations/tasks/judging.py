from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.judging import judge_chunk_run


@shared_task(name=JOB_KINDS["judge"].task, bind=True)
def run_judge_chunk(self, chunk_id: int) -> str:
    return judge_chunk_run(chunk_id=chunk_id, worker=self.request.hostname or "")
