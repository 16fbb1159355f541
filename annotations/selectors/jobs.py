from __future__ import annotations

from itertools import chain

from annotations.models import Case, GenerationJob, Response, Study, TrainingJob


def study_jobs(study: Study, limit: int = 50) -> list:
    """Generation and training jobs, newest first, each tagged with its ``kind``."""
    generation = GenerationJob.objects.filter(study=study).select_related("arm", "created_by")[:limit]
    training = TrainingJob.objects.filter(study=study).select_related("result_arm", "created_by")[:limit]
    jobs = sorted(chain(generation, training), key=lambda j: j.created_at, reverse=True)[:limit]
    for job in jobs:
        job.kind = "generation" if isinstance(job, GenerationJob) else "training"
    return jobs


def cases_missing_responses(study: Study, arm) -> list[int]:
    done = Response.objects.filter(case__study=study, arm=arm).values_list("case_id", flat=True)
    return list(study.cases.filter(split=Case.Split.TEST).exclude(pk__in=done).values_list("pk", flat=True))


def study_responses_by_case(study: Study, limit: int = 200) -> list[dict]:
    """Unblinded: each test case with every arm's newest response (researchers and admins only)."""
    arms = [sa.arm for sa in study.study_arms.select_related("arm")]
    newest: dict[tuple[int, int], Response] = {}
    for response in (Response.objects.filter(case__study=study, arm__in=arms).select_related("job")
                     .order_by("case_id", "arm_id", "created_at", "id")):
        newest[(response.case_id, response.arm_id)] = response
    rows = []
    for case in study.cases.filter(split=Case.Split.TEST).order_by("external_id")[:limit]:
        rows.append({"case": case, "cells": [(arm, newest.get((case.pk, arm.pk))) for arm in arms]})
    return rows
