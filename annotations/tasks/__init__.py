"""Celery tasks, one module per job kind (see :mod:`annotations.job_kinds`) plus the
study aggregation. Each task is a few lines that call a service; Celery's autodiscovery
imports this package, which imports every task module so that workers know them all.
Every task is acked late and requeued when its worker is lost (the CELERY_TASK_ACKS_LATE
and CELERY_TASK_REJECT_ON_WORKER_LOST settings), so a job whose worker dies is redelivered;
the runner ignores a message that is not the one its chunk was last sent with (see
:mod:`annotations.services.chunks`). Every job task takes a chunk's id."""

from annotations.tasks import aggregation, dataset_export, generation, imports, judging, training

__all__ = ["aggregation", "dataset_export", "generation", "imports", "judging", "training"]
