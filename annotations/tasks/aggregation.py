from celery import shared_task

from annotations.services.aggregation import AGGREGATE_TASK, study_aggregate_run


@shared_task(name=AGGREGATE_TASK)
def aggregate_study(study_id: int) -> str:
    """Recompute a study's dashboard (queued, debounced, after submissions)."""
    return study_aggregate_run(study_id=study_id)
