"""Reads of the jobs and responses pages (researchers and admins only)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Q

from annotations.errors import NotFound
from annotations.ids import id_or_not_found
from annotations.job_kinds import JOB_KINDS, JobKind, job_kind
from annotations.models import Case, JobStatus, ModelArm, Study, TrainingJob
from annotations.models.jobs import ACTIVE_STATUSES, JobBase, worker_lost_q
from annotations.selectors.arms import study_arms_in_order
from annotations.selectors.job_queues import QueueBoard, QueuePlace, studies_visible_to
from annotations.selectors.responses import Unanswered, generation_unanswered, newest_responses


@dataclass(frozen=True)
class JobRow:
    kind: JobKind
    job: JobBase
    chunks: dict | None = None  # how many chunks in all, done, running, lost (None: the job has none)
    worker_lost: bool = False  # running, but the worker of one of its chunks stopped beating
    place: QueuePlace | None = None  # queued: where it stands on its queue (given a viewer)
    unanswered: Unanswered | None = None  # a generation job's cases the server refused for good

    @property
    def retryable(self) -> bool:
        return self.job.is_retryable or (self.worker_lost and not self.job.cancel_requested)


def study_jobs(study: Study, limit: int = 50, kinds: tuple[str, ...] | None = None, *, viewer=None) -> list[JobRow]:
    """Jobs of every kind, newest first, with their chunks counted and those whose worker
    was lost (JOB_WORKER_LOST_S without a heartbeat) told apart; given the ``viewer``
    (the user the page is for), each queued job with its place on its queue, the jobs
    of other studies named as the viewer may see them."""
    rows = []
    for kind in JOB_KINDS.values():
        if kinds is not None and kind.name not in kinds:
            continue
        jobs = list(kind.model.objects.filter(study=study).select_related(*kind.related)[:limit])
        counts = {c["job"]: c for c in kind.chunk_model.objects.filter(job__in=jobs).values("job").annotate(
            all=Count("pk"), done=Count("pk", filter=Q(status=JobStatus.SUCCEEDED)),
            running=Count("pk", filter=Q(status=JobStatus.RUNNING)), lost=Count("pk", filter=worker_lost_q()))
        } if jobs else {}
        unanswered = generation_unanswered([job.pk for job in jobs]) if kind.name == "generation" and jobs else {}
        rows += [JobRow(kind, job, counts.get(job.pk),
                        bool(counts.get(job.pk, {}).get("lost")) and job.status == JobStatus.RUNNING,
                        unanswered=unanswered.get(job.pk))
                 for job in jobs]
    rows = sorted(rows, key=lambda row: row.job.created_at, reverse=True)[:limit]
    if viewer is None or not any(row.job.status == JobStatus.QUEUED for row in rows):
        return rows
    board = QueueBoard(sees_study=studies_visible_to(viewer))
    return [replace(row, place=board.place(row.kind, row.job)) for row in rows]


def jobs_of_kind(kind: JobKind):
    """Every job of one kind, newest first, with its study and the kind's related rows."""
    return kind.model.objects.select_related("study", *kind.related).order_by("-created_at", "-id")


def study_job_get(study: Study, kind_name: str, pk: int) -> JobBase:
    """One job of the study; NotFound for another study's, an unknown kind or id."""
    pk = id_or_not_found(pk, f"No {kind_name} job {pk} in this study.")
    job = job_kind(kind_name).model.objects.filter(study=study, pk=pk).first()
    if job is None:
        raise NotFound(f"No {kind_name} job {pk} in this study.")
    return job


RESPONSES_PER_PAGE = 50


def study_responses_page(study: Study, filters: dict, page_number) -> tuple[list, Page]:
    """Unblinded (researchers and admins only): the study's arms (or the one filtered on),
    and one page of its test cases, each with every shown arm's newest response. The
    filters (a ResponseFilterForm's cleaned data) pick cases by task and category and by
    what the newest response of the arm (any arm when none is chosen) says."""
    arms = ([filters["arm"]] if filters.get("arm") else
            list(study_arms_in_order(study)))
    cases = study.cases.filter(split=Case.Split.TEST).order_by("external_id")
    if filters.get("task"):
        cases = cases.filter(task=filters["task"])
    if filters.get("category"):
        cases = cases.filter(category=filters["category"])
    said = newest_responses(study, arm_ids=[a.pk for a in arms])
    if filters.get("behavior"):
        said = said.filter(predicted_behavior="" if filters["behavior"] == "none" else filters["behavior"])
    if filters.get("q"):
        said = said.filter(text__icontains=filters["q"])
    if filters.get("correct"):
        said = said.filter(correct=filters["correct"] == "yes")
    if filters.get("behavior") or filters.get("q") or filters.get("correct"):
        cases = cases.filter(Exists(said.filter(case_id=OuterRef("pk"))))
    page = Paginator(cases.only("id", "external_id", "task", "gold_behavior", "gold_label"),
                     RESPONSES_PER_PAGE).get_page(page_number)
    newest = {(r.case_id, r.arm_id): r for r in newest_responses(study, arm_ids=[a.pk for a in arms])
              .filter(case_id__in=[c.pk for c in page])}
    page.rows = [{"case": case, "cells": [(arm, newest.get((case.pk, arm.pk))) for arm in arms]} for case in page]
    return arms, page


def adapter_training_pending(arm: ModelArm) -> TrainingJob | None:
    """The queued or running job that trains ``arm``'s adapter, if any."""
    return TrainingJob.objects.filter(target_arm=arm, status__in=ACTIVE_STATUSES).order_by("-pk").first()
