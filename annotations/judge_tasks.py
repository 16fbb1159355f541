"""The judge job's Celery task (queue ``gpu``, like generation and training): load the
job's rows, call :mod:`modeling.judge`, write scores through
:mod:`annotations.services.judging`. Resumable: what a previous attempt wrote is not
asked again (idempotent per (job, response, dimension)); cancellable between batches.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from celery import shared_task

from annotations import worker_models
from annotations.models import JobStatus
from annotations.models.judge import JudgeComparison, JudgeJob, JudgeScore
from annotations.services import jobs as job_services
from annotations.services import judging

logger = logging.getLogger(__name__)


def build_judge(job: JudgeJob):
    """The :class:`modeling.judge.Judge` a job asks for. A local model is the worker's
    one kept model (:mod:`annotations.worker_models`); an endpoint's base URL is the
    job's or the ``JUDGE_OPENAI_BASE_URL`` setting, its API key the
    ``JUDGE_OPENAI_API_KEY`` setting (never stored with the job)."""
    from modeling.judge import LocalJudge, OpenAIJudge

    params = job.params or {}
    if job.kind == JudgeJob.Kind.LOCAL:
        loaded = worker_models.loaded_model(job.model_ref, job.adapter_path or None)
        return LocalJudge(loaded, token_budget=params.get("token_budget"), max_batch_size=params.get("max_batch_size"),
                          use_reference=bool(params.get("use_reference")))
    logprobs = params.get("logprobs", "auto")
    return OpenAIJudge(job.model_ref, job.base_url or judging.judge_setting("JUDGE_OPENAI_BASE_URL") or None,
                       judging.judge_setting("JUDGE_OPENAI_API_KEY") or None,
                       logprobs=logprobs if logprobs in (True, False, "auto") else "auto",
                       top_logprobs=int(params.get("top_logprobs", 20)), n_samples=int(params.get("n_samples", 10)),
                       temperature=float(params.get("temperature", 1.0)),
                       concurrency=int(params.get("concurrency", 4)),
                       timeout=float(params.get("timeout_s", 60)), max_retries=int(params.get("max_retries", 2)),
                       use_reference=bool(params.get("use_reference")))


class _Phase:
    """Maps one phase's progress (scores, then comparisons) onto the job's progress."""

    def __init__(self, writer, offset: int, total: int, started: float):
        self.writer, self.offset, self.total, self.started = writer, offset, total, started

    def __call__(self, progress) -> None:
        done = self.offset + progress.done
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done * max(self.total - done, 0) if done else None
        self.writer(dataclasses.replace(progress, done=done, total=self.total, eta_s=eta))


@shared_task(name="annotations.tasks.run_judge_job", acks_late=True, reject_on_worker_lost=True)
def run_judge_job(job_id: int) -> str:
    from annotations.tasks import _ProgressWriter
    from modeling.judge import PairRequest, ScoreRequest, resolve_dimensions

    job = job_services.job_start(model=JudgeJob, job_id=job_id, worker_host=worker_models.worker_host(),
                                 device_name=worker_models.device_name())
    if job is None:
        return "skipped"
    try:
        dims = resolve_dimensions(job.dimensions)
        pair_dims = resolve_dimensions(job.params.get("pairwise_dimensions") or ["overall"]) if job.pairwise else []
        use_reference = bool(job.params.get("use_reference"))
        responses = list(job.responses.select_related("case", "arm").order_by("pk"))
        cases = {r.case_id: r.case.as_case_dict() for r in responses}
        scored = set(JudgeScore.objects.filter(job=job).values_list("response_id", "dimension"))
        score_todo = [ScoreRequest(key=str(r.pk), case=cases[r.case_id], response=r.text, dimension=d,
                                   reference=cases[r.case_id].get("reference_response") if use_reference else None)
                      for r in responses for d in dims if (r.pk, d.key) not in scored]
        compared = set(JudgeComparison.objects.filter(job=job).values_list("response_a_id", "response_b_id",
                                                                           "dimension"))
        pair_todo = [PairRequest(key=f"{a.pk}:{b.pk}", case=cases[a.case_id], response_a=a.text, response_b=b.text,
                                 dimension=d)
                     for a, b in judging.judge_pairs(responses, job.study) for d in pair_dims
                     if (a.pk, b.pk, d.key) not in compared]
        already = judging.judge_done_units(job)
        remaining = len(score_todo) + 2 * len(pair_todo)
        job_services.job_progress(job=job, done=already, total=already + remaining)

        judge = build_judge(job)
        JudgeJob.objects.filter(pk=job.pk).update(judge_provenance={
            **judge.describe(), "worker_host": job.worker_host, "device": job.device_name})
        writer = _ProgressWriter(job, offset=already)
        started = time.perf_counter()
        stopped = False
        phases = ((judge.score_iter, score_todo, judging.judge_scores_write, 0),
                  (judge.compare_iter, pair_todo, judging.judge_comparisons_write, len(score_todo)))
        for run, todo, write, offset in phases:
            if not todo or stopped:
                continue
            for batch in run(todo, progress=_Phase(writer, offset, remaining, started),
                             should_stop=lambda: writer.stop):
                write(job=job, results=batch)
                stopped = job_services.job_progress(job=job, done=judging.judge_done_units(job))
                if stopped:
                    break
            stopped = stopped or writer.stop
        if stopped:
            job_services.job_finish(job=job, status=JobStatus.CANCELLED)
            return "cancelled"
    except Exception as exc:
        logger.exception("judge job %s failed", job_id)
        job_services.job_finish(job=job, status=JobStatus.FAILED, error=exc)
        return "failed"
    try:
        judging.judge_analyse(job=job)
    except Exception as exc:  # the scores are safe; the page offers to recompute
        logger.exception("analysis of judge job %s failed", job_id)
        JudgeJob.objects.filter(pk=job.pk).update(analysis={"error": f"{exc.__class__.__name__}: {exc}"})
    job_services.job_finish(job=job, status=JobStatus.SUCCEEDED)
    return "succeeded"
