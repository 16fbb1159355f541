"""Study aggregation: debounced after submissions, on demand from the dashboard, stored
in ``StudyAnalysis``. Submissions never wait on the broker: when Redis is unreachable
the request is remembered and queued by the next submission or dashboard visit."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotations.errors import QueueUnavailable
from annotations.models import Study, StudyAnalysis
from annotations.queues import DEFAULT_QUEUE
from annotations.selectors.studies import study_progress
from annotations.services.queue import task_send

logger = logging.getLogger(__name__)

AGGREGATE_TASK = "annotations.tasks.aggregation.aggregate_study"

DEBOUNCE_S = getattr(settings, "AGGREGATION_DEBOUNCE_S", 20)
BROKER_RETRY_AFTER_S = 30
# A queued task not started within this long is presumed lost (e.g. Redis was flushed).
QUEUED_TIMEOUT = timedelta(minutes=10)
_broker_down_until = 0.0


def _queue_task(study_id: int, countdown: float) -> bool:
    """Send the aggregation task; False (quickly) while the broker is known to be down."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    try:
        task_send(AGGREGATE_TASK, args=[study_id], queue=DEFAULT_QUEUE, countdown=countdown, timeout=2)
    except QueueUnavailable as exc:
        _broker_down_until = time.monotonic() + BROKER_RETRY_AFTER_S
        logger.warning("aggregation of study %s not queued (%s); will retry later", study_id, exc)
        return False
    return True


def aggregation_request(*, study_id: int, countdown: float | None = None) -> bool:
    """Note that the study needs re-aggregating and queue it, unless one is already
    waiting (the debounce). Returns True when a task is waiting."""
    now = timezone.now()
    with transaction.atomic():
        analysis, _ = StudyAnalysis.objects.select_for_update().get_or_create(study_id=study_id)
        analysis.requested_at = now
        waiting = analysis.queued_at is not None and now - analysis.queued_at < QUEUED_TIMEOUT
        analysis.save(update_fields=["requested_at"])
    if waiting:
        return True
    if not _queue_task(study_id, DEBOUNCE_S if countdown is None else countdown):
        return False
    StudyAnalysis.objects.filter(study_id=study_id).update(queued_at=now)
    return True


def aggregation_resume_pending(*, study: Study) -> None:
    """Queue an aggregation that could not be queued earlier (called on dashboard visits)."""
    analysis = StudyAnalysis.objects.filter(study=study).first()
    if analysis and analysis.stale and (analysis.queued_at is None
                                        or timezone.now() - analysis.queued_at > QUEUED_TIMEOUT):
        aggregation_request(study_id=study.pk, countdown=0)


def study_aggregate_run(*, study_id: int) -> str:
    """The aggregation task's work: recompute, record a failure, queue again if
    submissions arrived meanwhile."""
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


def study_aggregate(*, study: Study, n_boot: int = 1000) -> StudyAnalysis:
    """Compute and store the study's full analysis (statistics and automatic metrics)."""
    from annotations.analysis import summarize_study
    from annotations.selectors.analysis import analysis_dimensions, rating_frames
    from annotations.selectors.arms import analysis_seed, study_arm_names
    from annotations.services.automatic import study_automatic_metrics, study_reading_agreement

    started_at = timezone.now()
    started = time.perf_counter()
    ratings, judgments, preferences = rating_frames(study)
    result = summarize_study(ratings, judgments, preferences, analysis_dimensions(study.rubric), n_boot=n_boot,
                             seed=analysis_seed(study), arms=study_arm_names(study))
    automatic = study_automatic_metrics(study=study, n_boot=n_boot)
    result["automatic"] = automatic["arms"]
    result["automatic_comparison"] = automatic["comparison"]
    result["automatic_reading"] = automatic["reading"]
    result["reading_agreement"] = study_reading_agreement(study=study, n_boot=n_boot)
    result["progress"] = study_progress(study)
    seconds = time.perf_counter() - started
    with transaction.atomic():
        analysis, _ = StudyAnalysis.objects.select_for_update().get_or_create(study=study)
        analysis.result = result
        analysis.computed_at = started_at
        analysis.compute_seconds = round(seconds, 3)
        analysis.n_ratings = len(ratings)
        analysis.error = ""
        analysis.save()
    return analysis
