"""The Celery queues, by name: what the job kinds route to (:mod:`annotations.job_kinds`),
what the Celery app declares (:mod:`evalportal.celery`) and what ``manage.py runportal``'s
worker consumes. Plain constants: the Celery app reads them before Django is set up."""

# Imports, aggregation, exports: CPU work, many at a time.
DEFAULT_QUEUE = "default"
# Generation, training, judging on a local model: one job per GPU worker.
GPU_QUEUE = "gpu"
# Generation by an arm, or judging by a judge, that an OpenAI-compatible server serves: CPU
# workers, many requests in flight.
ENDPOINT_QUEUE = "endpoint"

QUEUES = (DEFAULT_QUEUE, GPU_QUEUE, ENDPOINT_QUEUE)
