"""Generation jobs: an arm answers a study's cases. Queued here; run on a GPU worker by
:func:`generation_job_run`, which calls :class:`modeling.generate.GenerationEngine` and
writes each batch of responses as it comes (idempotent per (job, case), so a job that
runs again after a crash or a retry finishes only what is missing)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from annotations import worker_models
from annotations.errors import JobStateError
from annotations.models import Case, GenerationJob, ModelArm, Response, Study, StudyArm
from annotations.services.jobs import JobProgress, job_create, job_progress, job_run
from annotations.services.responses import responses_write

DEFAULT_DECODING = {"max_new_tokens": 160, "do_sample": False}
# Decoding parameters a job may set on the engine (the rest of a job's decoding_params,
# e.g. max_new_tokens, are read by name).
ENGINE_OPTIONS = ("do_sample", "temperature", "top_p", "top_k", "token_budget", "max_batch_size")


def generation_job_queue(*, study: Study, arm: ModelArm, cases: Iterable[Case] | None = None, actor=None,
                         decoding_params: dict | None = None, seed: int = 0) -> GenerationJob:
    """Queue generation of ``arm``'s responses for ``cases`` (default: the study's test cases)."""
    if not StudyArm.objects.filter(study=study, arm=arm).exists():
        raise JobStateError(f"Arm {arm.name!r} is not part of study {study.slug!r}.")
    case_ids = ([c.pk for c in cases] if cases is not None
                else list(study.cases.filter(split=Case.Split.TEST).values_list("pk", flat=True)))
    if not case_ids:
        raise JobStateError("No cases to generate for.")
    if Case.objects.filter(pk__in=case_ids).exclude(study=study).exists():
        raise JobStateError("Some cases belong to another study.")
    decoding = {**DEFAULT_DECODING, **(arm.decoding_params or {}), **(decoding_params or {})}
    with transaction.atomic():
        job = job_create(kind_name="generation", actor=actor, study=study, arm=arm, decoding_params=decoding, seed=seed,
                         progress_total=len(case_ids))
        job.cases.set(case_ids)
    return job


def generation_job_run(*, job_id: int) -> str:
    return job_run(kind_name="generation", job_id=job_id, work=_generate)


def _generate(job: GenerationJob) -> bool:
    from modeling.data import PROMPT_TEMPLATE_VERSION
    from modeling.generate import GenerationEngine

    arm = job.arm
    written = set(Response.objects.filter(job=job).values_list("case_id", flat=True))
    todo = list(job.cases.exclude(pk__in=written).order_by("pk"))
    already = len(written)
    job_progress(job=job, done=already, total=already + len(todo))
    loaded = worker_models.loaded_model(arm.base_model, arm.adapter_path or None)
    decoding = dict(job.decoding_params)
    engine = GenerationEngine(loaded, max_new_tokens=int(decoding.pop("max_new_tokens", 160)), seed=job.seed,
                              **{k: v for k, v in decoding.items() if k in ENGINE_OPTIONS})
    provenance = {**loaded.provenance(), "decoding": engine.decoding_params(), "seed": job.seed,
                  "template_version": PROMPT_TEMPLATE_VERSION, "worker_host": job.worker_host,
                  "device": job.device_name, "arm_method": arm.method}
    by_key = {c.external_id: c for c in todo}
    progress = JobProgress(job, offset=already)
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
        if job_progress(job=job, done=Response.objects.filter(job=job).count()):
            return False
    return not progress.stop
