"""Training jobs: a LoRA adapter (BehaviorSFT or GeneralSFT) trained on a study's
training split on a GPU worker, in processes of its own over every GPU the worker sees
(:func:`modeling.train.launch.train_in_processes`); the adapter becomes a new arm of the
study. A job is one chunk (:func:`chunk_whole_plan`), its units the optimizer steps,
counted once training starts. A run that stopped (its worker died, a cancel) left its
checkpoints in the adapter's folder: the job's next run goes on from the newest."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction

from annotations import worker_runtime
from annotations.errors import InvalidRequest
from annotations.model_refs import model_ref_check
from annotations.models import Case, ModelArm, Study, StudyArm, TrainingJob
from annotations.models.arm import TRAINING_METHODS
from annotations.services.arms import study_arms_check
from annotations.services.chunks import ChunkProgress, chunk_run, chunk_whole_plan
from annotations.services.jobs import job_create
from modeling.params import DecodingParams, TrainParams, params_dict, params_with_defaults


def training_job_queue(*, study: Study, method: str, base_model: str = "demo", actor=None,
                       hyperparameters: dict | None = None, target_arm: ModelArm | None = None) -> TrainingJob:
    """Queue LoRA training (BehaviorSFT or GeneralSFT) on the study's training split; the
    adapter becomes a new arm of the study, or ``target_arm``'s adapter. The job stores
    every hyperparameter (:class:`~modeling.params.TrainParams`), those not given at
    their defaults."""
    methods = dict(TRAINING_METHODS)
    if method not in methods:
        raise InvalidRequest(f"Unknown training method {method!r}; use {' or '.join(methods)}.")
    if not study.cases.filter(split=Case.Split.TRAIN).exists():
        raise InvalidRequest(f"Study {study.slug!r} has no cases in its training split.")
    base_model = model_ref_check(base_model, what="base model")
    try:
        params = params_with_defaults(TrainParams, hyperparameters)
    except ValueError as exc:
        raise InvalidRequest(f"Hyperparameters: {exc}") from exc
    with transaction.atomic():
        job = job_create(kind_name="training", actor=actor, study=study, method=method, base_model=base_model,
                         hyperparameters=params_dict(params), target_arm=target_arm)
        chunk_whole_plan(job=job)
    return job


def training_chunk_run(*, chunk_id: int, worker: str) -> str:
    return chunk_run(kind_name="training", chunk_id=chunk_id, worker=worker, work=_train)


CANCEL_READ_EVERY_S = 2.0


def _train(job: TrainingJob, chunk, progress: ChunkProgress) -> bool:
    from modeling.train.launch import train_in_processes
    from modeling.train.sft import report_targets

    cases = [c.as_case_dict() for c in job.study.cases.filter(split=Case.Split.TRAIN).order_by("pk")]
    params = params_with_defaults(TrainParams, job.hyperparameters)
    report_to = settings.EVALPORTAL_TRAIN_REPORT_TO
    report_targets(report_to)  # a tracker that is not installed fails the job now, with what to do
    TrainingJob.objects.filter(pk=job.pk).update(loss_history=[], tensorboard_dir="", tracking_url="",
                                                 resumed_from_step=None)
    worker_runtime.forget()  # the GPUs' memory is the training processes' now

    def run_started(run: dict) -> None:
        progress.losses = [round(loss, 5) for loss in run.get("loss_history", [])]
        TrainingJob.objects.filter(pk=job.pk).update(
            tensorboard_dir=run.get("tensorboard_dir", ""), tracking_url=run.get("run_url", ""),
            resumed_from_step=run.get("resumed_from_step"), loss_history=list(progress.losses))

    result = train_in_processes(job.base_model, cases, job.method, adapter_dir_for(job), params, progress=progress,
                                should_stop=_cancel_check(job), on_run=run_started,
                                accelerate_config=settings.EVALPORTAL_ACCELERATE_CONFIG or None, report_to=report_to)
    training_arm_register(job=job, adapter_dir=str(result.adapter_dir),
                          checkpoint_hash=result.manifest.get("adapter_hash", ""))
    steps = len(result.loss_history)
    progress.at(steps, steps, loss_history=result.loss_history)
    return True


def _cancel_check(job: TrainingJob):
    """Whether the job was asked to stop, read from its row every few seconds (training
    may report no step for minutes while it loads the model)."""
    read_at, cancelled = 0.0, False

    def should_stop() -> bool:
        nonlocal read_at, cancelled
        if not cancelled and time.monotonic() - read_at >= CANCEL_READ_EVERY_S:
            read_at = time.monotonic()
            cancelled = TrainingJob.objects.filter(pk=job.pk, cancel_requested=True).exists()
        return cancelled

    return should_stop


def training_arm_register(*, job: TrainingJob, adapter_dir: str, checkpoint_hash: str) -> ModelArm:
    """The trained adapter becomes a new arm (once, however often the task ran), or the
    job's target arm's adapter. The new arm joins the study only while the study is a
    draft (``study_arms_check``): an open study's arms are fixed, and an arm trained for
    it is there to compare in a new study."""
    label = ModelArm.Method(job.method).label
    if job.target_arm_id:
        with transaction.atomic():
            ModelArm.objects.filter(pk=job.target_arm_id).update(adapter_path=adapter_dir,
                                                                  checkpoint_hash=checkpoint_hash)
            TrainingJob.objects.filter(pk=job.pk).update(result_arm_id=job.target_arm_id, adapter_path=adapter_dir)
        return ModelArm.objects.get(pk=job.target_arm_id)
    with transaction.atomic():
        arm, _ = ModelArm.objects.get_or_create(
            name=f"{label} (training job {job.pk})",
            defaults={"method": job.method, "base_model": job.base_model, "adapter_path": adapter_dir,
                      "uses_behavior_tokens": job.method == ModelArm.Method.BEHAVIOR_SFT,
                      "checkpoint_hash": checkpoint_hash, "decoding_params": params_dict(DecodingParams()),
                      "description": f"Trained by job {job.pk} on study {job.study.slug}'s training split."},
        )
        study = Study.objects.select_for_update().get(pk=job.study_id)
        if study.status == Study.Status.DRAFT and not StudyArm.objects.filter(study=study, arm=arm).exists():
            study_arms_check(study=study, count=study.study_arms.count() + 1)
            StudyArm.objects.create(study=study, arm=arm, position=study.study_arms.count())
        TrainingJob.objects.filter(pk=job.pk).update(result_arm=arm, adapter_path=adapter_dir)
    return arm


def adapter_dir_for(job: TrainingJob) -> str:
    return str(settings.EVALPORTAL_ADAPTER_DIR / f"{job.study.slug}-{job.method}-job{job.pk}")
