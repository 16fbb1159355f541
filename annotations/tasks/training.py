from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.training import training_chunk_run


@shared_task(name=JOB_KINDS["training"].task, bind=True)
def run_training_chunk(self, chunk_id: int) -> str:
    return training_chunk_run(chunk_id=chunk_id, worker=self.request.hostname or "")
