from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.generation import generation_chunk_run


@shared_task(name=JOB_KINDS["generation"].task, bind=True)
def run_generation_chunk(self, chunk_id: int) -> str:
    return generation_chunk_run(chunk_id=chunk_id, worker=self.request.hostname or "")
