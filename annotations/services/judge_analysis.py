"""The judge page's analysis of a judge job (judge vs clinicians: scores per arm,
densities, concordance, position-swap consistency), computed after the job and on
demand, stored on the job; page loads read it, never recompute it."""

from __future__ import annotations

import time

from django.utils import timezone

from annotations.models.judge import JudgeJob
from annotations.selectors.judge import judge_frames


def judge_analyse(*, job: JudgeJob, n_boot: int = 1000) -> dict:
    from annotations.analysis import to_jsonable
    from annotations.analysis.concordance import judge_analysis
    from annotations.selectors.analysis import analysis_dimensions
    from annotations.selectors.arms import analysis_seed, study_arm_names

    started = time.perf_counter()
    judge, ratings, comparisons = judge_frames(job)
    arms = study_arm_names(job.study)
    present = set(judge["arm"]) | set(ratings["arm"])
    arms = [a for a in arms if a in present] + sorted(present - set(arms))
    result = judge_analysis(judge, ratings, job.dimensions, analysis_dimensions(job.study.rubric),
                            comparisons=comparisons, arms=arms, n_boot=n_boot, seed=analysis_seed(job.study),
                            unit_columns=("case_id", "response_id"))
    if job.planted:
        result["planted"] = _planted_summary(job)
    result["meta"].update({"job": job.pk, "kind": job.kind, "model": job.model_ref,
                           "computed_at": timezone.now().isoformat(),
                           "compute_seconds": round(time.perf_counter() - started, 3),
                           "pairwise_dimensions": job.params.get("pairwise_dimensions", [])})
    result = to_jsonable(result)
    JudgeJob.objects.filter(pk=job.pk).update(analysis=result, analysed_at=timezone.now())
    job.analysis, job.analysed_at = result, timezone.now()
    return result


def _planted_summary(job: JudgeJob) -> dict:
    """The job's planted-problem readings: per arm how many it read and read as named,
    and how they agree with the terms' reading where the reading decides a score
    (:func:`modeling.evaluate.planted_agreement`)."""
    from annotations.selectors.readings import planted_reading_counts, planted_reading_records
    from modeling.evaluate import planted_agreement

    return {"counts": planted_reading_counts(job),
            "agreement_with_terms": planted_agreement(planted_reading_records(job), job.study.task_registry())}
