"""A rater's onboarding in a study: consent, then the practice cases (not counted)."""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotations.errors import InvalidRequest
from annotations.models import Case, PracticeAttempt, Study
from annotations.rating_input import parse_rating
from annotations.selectors.onboarding import practice_next, practice_slots
from annotations.services.audit import audit_record
from annotations.services.raters import standing_locked


def study_rater_consent(*, study: Study, rater, agreed: bool) -> None:
    """Record the rater's consent to the study's consent text, with the time and a hash
    of the very text they accepted."""
    if not agreed:
        raise InvalidRequest("Tick the box to give your consent, or leave the study team a message.")
    digest = hashlib.sha256(study.consent_text.encode()).hexdigest()
    with transaction.atomic():
        standing = standing_locked(study, rater)
        if standing.consent_at is not None and standing.consent_sha256 == digest:
            return
        standing.consent_at, standing.consent_sha256 = timezone.now(), digest
        standing.save(update_fields=["consent_at", "consent_sha256"])
        audit_record(actor=rater, action="rater.consent", obj=standing,
                     summary=f"{rater.get_username()} consented in {study.slug}",
                     after={"at": standing.consent_at.isoformat(), "sha256": digest})


class IncompletePractice(InvalidRequest):
    def __init__(self, parsed):
        self.parsed = parsed
        super().__init__(f"{len(parsed.errors)} field(s) still need an answer")


def practice_attempt_record(*, study: Study, case: Case, rater, data) -> PracticeAttempt:
    """Keep the rater's answers to a practice case (once; a resent form returns the first
    attempt) and, after the last practice case, mark their practice done."""
    slots = practice_slots(study=study, case=case, rater=rater)
    parsed = parse_rating(study.rubric, len(slots), data)
    if not parsed.complete:
        raise IncompletePractice(parsed)
    try:
        with transaction.atomic():
            attempt = PracticeAttempt.objects.create(study=study, case=case, rater=rater, slots=slots,
                                                     answers={"slots": parsed.slots, "ranks": parsed.ranks})
            audit_record(actor=rater, action="practice.attempt", obj=attempt,
                         summary=f"{rater.get_username()} tried practice case {case.external_id}")
            if practice_next(study=study, rater=rater) is None:
                standing = standing_locked(study, rater)
                standing.practice_completed_at = timezone.now()
                standing.save(update_fields=["practice_completed_at"])
                audit_record(actor=rater, action="rater.practice_done", obj=standing,
                             summary=f"{rater.get_username()} finished the practice cases of {study.slug}")
    except IntegrityError:
        return PracticeAttempt.objects.get(case=case, rater=rater)
    return attempt
