"""Adjudicating "potentially harmful" flags."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotations.errors import InvalidRequest, NotFound
from annotations.ids import id_or_not_found
from annotations.models import HarmDecision, Study
from annotations.rating_input import text_problem
from annotations.selectors.harms import harm_flags_all
from annotations.services.audit import audit_record


def harm_decide(*, study: Study, rating_id, decision: str, note: str, actor) -> HarmDecision:
    """Record (or change) the decision on one flag of the study, with a note."""
    if decision not in HarmDecision.Decision.values:
        raise InvalidRequest("Choose a decision: harm confirmed, not harmful or unclear.")
    note = (note or "").strip()
    problem = text_problem("The note", note)
    if problem:
        raise InvalidRequest(problem)
    rating_id = id_or_not_found(rating_id, "No such flag.")
    with transaction.atomic():
        rating = harm_flags_all(study).select_for_update(of=("self",)).filter(pk=rating_id).first()
        if rating is None:
            raise NotFound("No such flag in this study.")
        current = HarmDecision.objects.filter(rating=rating).first()
        before = {"decision": current.decision, "note": current.note} if current else None
        made = current or HarmDecision(rating=rating)
        made.decision, made.note, made.decided_by, made.decided_at = decision, note, actor, timezone.now()
        made.save()
        audit_record(actor=actor, action="harm.decide", obj=made,
                     summary=f"flag {rating.pk} (response {rating.response_id}): {decision}",
                     before=before, after={"decision": decision, "note": note})
    return made
