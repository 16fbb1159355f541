"""A rater's standing in a study: onboarding steps they complete, and the research
team's pausing, removing and reinstating them."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotations.errors import InvalidRequest
from annotations.models import Assignment, Study, StudyRater
from annotations.services.audit import audit_record


def standing_locked(study: Study, rater) -> StudyRater:
    """The rater's row in the study, made when first needed, locked for this transaction."""
    StudyRater.objects.get_or_create(study=study, rater=rater)
    return StudyRater.objects.select_for_update().get(study=study, rater=rater)


def study_rater_acknowledge_instructions(*, study: Study, rater) -> StudyRater:
    """The rater has read the study's instructions (recorded once, with the time)."""
    with transaction.atomic():
        standing = standing_locked(study, rater)
        if standing.instructions_acknowledged_at is None:
            standing.instructions_acknowledged_at = timezone.now()
            standing.save(update_fields=["instructions_acknowledged_at"])
            audit_record(actor=rater, action="rater.instructions", obj=standing,
                         summary=f"{rater.get_username()} acknowledged the instructions of {study.slug}",
                         after={"at": standing.instructions_acknowledged_at.isoformat()})
    return standing


def study_rater_set_status(*, study: Study, rater, status: str, actor) -> dict:
    """Pause, remove or reinstate a rater in a study. Pausing or removing returns their
    open (unsubmitted) assignments there to the pool for other raters, drafts dropped;
    their submitted work stays. Returns how many assignments went back."""
    if status not in StudyRater.Status.values:
        raise InvalidRequest(f"Unknown rater status {status!r}.")
    with transaction.atomic():
        standing = standing_locked(study, rater)
        before = standing.status
        released = 0
        if status != StudyRater.Status.ACTIVE:
            open_work = (Assignment.objects.select_for_update().filter(study=study, rater=rater)
                         .exclude(status=Assignment.Status.SUBMITTED))
            ids = list(open_work.values_list("id", flat=True))
            released = Assignment.objects.filter(id__in=ids).update(
                rater=None, status=Assignment.Status.PENDING, draft={}, shown_at=None, first_input_at=None,
                last_activity_at=None, active_seconds=0)
        if before == status and not released:
            return {"released": 0, "changed": False}
        standing.status = status
        standing.status_changed_at = timezone.now()
        standing.save(update_fields=["status", "status_changed_at"])
        audit_record(actor=actor, action="rater.status", obj=standing,
                     summary=f"{rater.get_username()} in {study.slug}: {before} -> {status}"
                             + (f", {released} open assignments back to the pool" if released else ""),
                     before={"status": before}, after={"status": status, "released": released})
    return {"released": released, "changed": True}
