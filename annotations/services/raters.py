"""A rater's standing in a study: onboarding steps they complete, and the research
team's pausing, removing and reinstating them."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotations.models import Study, StudyRater
from annotations.services.audit import audit_record


def _standing_locked(study: Study, rater) -> StudyRater:
    """The rater's row in the study, made when first needed, locked for this transaction."""
    StudyRater.objects.get_or_create(study=study, rater=rater)
    return StudyRater.objects.select_for_update().get(study=study, rater=rater)


def study_rater_acknowledge_instructions(*, study: Study, rater) -> StudyRater:
    """The rater has read the study's instructions (recorded once, with the time)."""
    with transaction.atomic():
        standing = _standing_locked(study, rater)
        if standing.instructions_acknowledged_at is None:
            standing.instructions_acknowledged_at = timezone.now()
            standing.save(update_fields=["instructions_acknowledged_at"])
            audit_record(actor=rater, action="rater.instructions", obj=standing,
                         summary=f"{rater.get_username()} acknowledged the instructions of {study.slug}",
                         after={"at": standing.instructions_acknowledged_at.isoformat()})
    return standing
