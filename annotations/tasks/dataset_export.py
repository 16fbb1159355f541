from celery import shared_task

from annotations.job_kinds import JOB_KINDS
from annotations.services.dataset_export import dataset_export_chunk_run


@shared_task(name=JOB_KINDS["dataset_export"].task, bind=True)
def run_dataset_export_chunk(self, chunk_id: int) -> str:
    return dataset_export_chunk_run(chunk_id=chunk_id, worker=self.request.hostname or "")
