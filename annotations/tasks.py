"""Celery tasks. They only orchestrate: load rows, call ``modeling``, write rows through
services. Generation and training run on queue ``gpu``; aggregation on ``default``."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from annotations import worker_models
from annotations.models import Case, GenerationJob, JobStatus, Response, TrainingJob
from annotations.services import jobs as job_services
from annotations.services.responses import responses_write

logger = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0


class _ProgressWriter:
    """A ``modeling`` progress callback that writes to the job at most once a second and
    reads the job's cancel flag with each write (``stop``)."""

    def __init__(self, job, offset: int = 0):
        self.job, self.offset = job, offset
        self.last, self.stop = 0.0, False
        self.losses: list[float] = []

    def __call__(self, progress) -> None:
        if progress.loss is not None and len(self.losses) < progress.done:
            self.losses.append(round(progress.loss, 5))
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and progress.done < progress.total:
            return
        self.last = now
        extra = {"loss_history": list(self.losses)} if self.losses else {}
        self.stop = job_services.job_progress(
            job=self.job, done=self.offset + progress.done, total=self.offset + progress.total,
            tokens_per_s=round(progress.tokens_per_s, 2), eta_s=progress.eta_s, **extra)


@shared_task(name="annotations.tasks.run_generation_job", acks_late=True, reject_on_worker_lost=True)
def run_generation_job(job_id: int) -> str:
    job = job_services.job_start(model=GenerationJob, job_id=job_id, worker_host=worker_models.worker_host(),
                                 device_name=worker_models.device_name())
    if job is None:
        return "skipped"
    from modeling.generate import GenerationEngine

    arm = job.arm
    written = set(Response.objects.filter(job=job).values_list("case_id", flat=True))
    todo = list(job.cases.exclude(pk__in=written).order_by("pk"))
    already = len(written)
    job_services.job_progress(job=job, done=already, total=already + len(todo))
    try:
        loaded = worker_models.loaded_model(arm.base_model, arm.adapter_path or None)
        decoding = dict(job.decoding_params)
        engine = GenerationEngine(loaded, max_new_tokens=int(decoding.pop("max_new_tokens", 160)),
                                  seed=job.seed, **{k: v for k, v in decoding.items()
                                                    if k in ("do_sample", "temperature", "top_p", "top_k",
                                                             "token_budget", "max_batch_size")})
        provenance = {**loaded.provenance(), "decoding": engine.decoding_params(), "seed": job.seed,
                      "template_version": _template_version(), "worker_host": job.worker_host,
                      "device": job.device_name, "arm_method": arm.method}
        by_key = {c.external_id: c for c in todo}
        progress = _ProgressWriter(job, offset=already)
        stopped = False
        fewshot_pool = [c.as_case_dict() for c in job.study.cases.filter(split=Case.Split.TRAIN)]
        batches = engine.generate_iter([c.as_case_dict() for c in todo], progress=progress,
                                       should_stop=lambda: progress.stop, arm=arm.method, fewshot_pool=fewshot_pool)
        for batch in batches:
            responses_write(rows=[{
                "case_id": by_key[r.key].pk, "arm_id": arm.pk, "job_id": job.pk, "text": r.text,
                "raw_text": r.raw_text, "predicted_behavior": r.predicted_behavior or "",
                "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                "latency_s": r.latency_s, "provenance": provenance,
            } for r in batch])
            done = Response.objects.filter(job=job).count()
            stopped = job_services.job_progress(job=job, done=done)
            if stopped:
                break
        if stopped or progress.stop:
            job_services.job_finish(job=job, status=JobStatus.CANCELLED)
            return "cancelled"
    except Exception as exc:
        logger.exception("generation job %s failed", job_id)
        job_services.job_finish(job=job, status=JobStatus.FAILED, error=exc)
        return "failed"
    job_services.job_finish(job=job, status=JobStatus.SUCCEEDED)
    return "succeeded"


@shared_task(name="annotations.tasks.run_training_job", acks_late=True, reject_on_worker_lost=True)
def run_training_job(job_id: int) -> str:
    job = job_services.job_start(model=TrainingJob, job_id=job_id, worker_host=worker_models.worker_host(),
                                 device_name=worker_models.device_name())
    if job is None:
        return "skipped"
    from modeling.progress import Cancelled
    from modeling.train import train_adapter

    cases = [c.as_case_dict() for c in job.study.cases.filter(split=Case.Split.TRAIN).order_by("pk")]
    params = dict(job.hyperparameters)
    out_dir = job_services.adapter_dir_for(job)
    progress = _ProgressWriter(job)
    TrainingJob.objects.filter(pk=job.pk).update(loss_history=[])
    try:
        worker_models.forget()  # training modifies a model in place: never reuse a cached one
        result = train_adapter(
            job.base_model, cases, job.method, out_dir, epochs=params.pop("epochs", None),
            steps=params.pop("steps", None), lr=params.pop("learning_rate", 2e-4), lora_r=params.pop("lora_r", 16),
            seed=params.pop("seed", 0), progress=progress, should_stop=lambda: progress.stop, **params)
        job_services.training_register_arm(job=job, adapter_dir=str(result.adapter_dir),
                                           checkpoint_hash=result.manifest.get("adapter_hash", ""))
        TrainingJob.objects.filter(pk=job.pk).update(loss_history=result.loss_history,
                                                     progress_total=len(result.loss_history),
                                                     progress_done=len(result.loss_history))
    except Cancelled:
        job_services.job_finish(job=job, status=JobStatus.CANCELLED)
        return "cancelled"
    except Exception as exc:
        logger.exception("training job %s failed", job_id)
        job_services.job_finish(job=job, status=JobStatus.FAILED, error=exc)
        return "failed"
    job_services.job_finish(job=job, status=JobStatus.SUCCEEDED)
    return "succeeded"


def _template_version() -> str:
    from modeling.data import PROMPT_TEMPLATE_VERSION

    return PROMPT_TEMPLATE_VERSION


@shared_task(name="annotations.tasks.aggregate_study")
def aggregate_study(study_id: int) -> str:
    """Recompute a study's dashboard; queued again if submissions arrived meanwhile."""
    from annotations.models import Study, StudyAnalysis
    from annotations.services.aggregation import aggregation_request, study_aggregate

    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return "gone"
    StudyAnalysis.objects.filter(study=study).update(queued_at=None)
    try:
        analysis = study_aggregate(study=study)
    except Exception as exc:
        logger.exception("aggregation of study %s failed", study_id)
        StudyAnalysis.objects.filter(study=study).update(error=f"{exc.__class__.__name__}: {exc}")
        return "failed"
    if analysis.stale:
        aggregation_request(study_id=study_id)
    return f"{analysis.n_ratings} ratings in {analysis.compute_seconds}s"


# Judge jobs live in their own module; importing it here registers the task with Celery.
from annotations import judge_tasks  # noqa: E402,F401
