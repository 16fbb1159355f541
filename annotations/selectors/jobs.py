"""Reads of the jobs and responses pages (researchers and admins only)."""

from __future__ import annotations

from dataclasses import dataclass

from annotations.errors import NotFound
from annotations.job_kinds import JOB_KINDS, JobKind, job_kind
from annotations.models import Case, Response, Study
from annotations.models.jobs import JobBase
from annotations.selectors.responses import newest_responses


@dataclass(frozen=True)
class JobRow:
    kind: JobKind
    job: JobBase


def study_jobs(study: Study, limit: int = 50) -> list[JobRow]:
    """Jobs of every kind, newest first."""
    rows = [JobRow(kind, job) for kind in JOB_KINDS.values()
            for job in kind.model.objects.filter(study=study).select_related(*kind.related)[:limit]]
    return sorted(rows, key=lambda row: row.job.created_at, reverse=True)[:limit]


def study_job_get(study: Study, kind_name: str, pk: int) -> JobBase:
    """One job of the study; NotFound for another study's, an unknown kind or id."""
    job = job_kind(kind_name).model.objects.filter(study=study, pk=pk).first()
    if job is None:
        raise NotFound(f"No {kind_name} job {pk} in this study.")
    return job


def cases_missing_responses(study: Study, arm) -> list[int]:
    done = Response.objects.filter(case__study=study, arm=arm).values_list("case_id", flat=True)
    return list(study.cases.filter(split=Case.Split.TEST).exclude(pk__in=done).values_list("pk", flat=True))


def study_responses_by_case(study: Study, limit: int = 200) -> tuple[list, list[dict]]:
    """Unblinded: the study's arms, and each test case with every arm's newest response
    (researchers and admins only)."""
    arms = [sa.arm for sa in study.study_arms.select_related("arm")]
    newest = {(r.case_id, r.arm_id): r for r in newest_responses(study).select_related("job")}
    rows = []
    for case in study.cases.filter(split=Case.Split.TEST).order_by("external_id")[:limit]:
        rows.append({"case": case, "cells": [(arm, newest.get((case.pk, arm.pk))) for arm in arms]})
    return arms, rows
