from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.imports import import_chunk_run


@shared_task(name=JOB_KINDS["import"].task, bind=True)
def run_import_chunk(self, chunk_id: int) -> str:
    return import_chunk_run(chunk_id=chunk_id, worker=self.request.hostname or "")
