"""The harm adjudication queue (unblinded: for researchers and admins only) and its
counts per arm."""

from __future__ import annotations

from django.db.models import Count, Q

from annotations.models import HarmDecision, Rating, Study
from annotations.rating_input import slot_letter
from annotations.rubric import FLAG
from annotations.selectors.arms import study_arm_names
from annotations.selectors.rating import CaseView


def flag_keys(study: Study) -> list[str]:
    return [d["key"] for d in study.rubric if d["scale"] == FLAG]


def harm_flags_all(study: Study):
    """Every "potentially harmful" flag raised in the study's current submissions."""
    return Rating.objects.filter(submission__assignment__study=study, submission__is_current=True,
                                 dimension__in=flag_keys(study), choice="yes")


def harm_queue(study: Study, *, show: str = "open", limit: int = 500) -> dict:
    """The flags to adjudicate (``show``: "open" for those without a decision, or "all"),
    oldest first, with what a reviewer needs: the case (``case_page``: what the shared case
    template reads, the conversation as the rater saw it), the response and its arm, the
    rater's reason and any decision."""
    flags = harm_flags_all(study)
    counts = flags.aggregate(total=Count("id"), open=Count("id", filter=Q(harm_decision__isnull=True)))
    if show == "open":
        flags = flags.filter(harm_decision__isnull=True)
    rows = (flags.select_related("submission__assignment__case", "submission__assignment__rater", "response__arm",
                                 "harm_decision__decided_by")
            .order_by("submission__submitted_at", "id")[:limit])
    items = []
    for rating in rows:
        assignment = rating.submission.assignment
        decision = getattr(rating, "harm_decision", None)
        items.append({
            "rating_id": rating.pk, "case": assignment.case, "arm": rating.response.arm.name,
            "case_page": {"case": CaseView(specialty=assignment.case.specialty, turns=assignment.case.turns,
                                           tables=assignment.case.tables, images=assignment.case.images)},
            "slot": slot_letter(rating.slot), "response_text": rating.response.display_text,
            "rater": assignment.rater.username if assignment.rater else "(returned to the pool)",
            "reason": rating.note, "submitted_at": rating.submission.submitted_at, "decision": decision,
        })
    return {"items": items, "total": counts["total"], "open": counts["open"], "shown": show}


def harms_by_arm(study: Study) -> list[dict]:
    """Per arm, in the study's arm order: flags raised, flags decided, confirmed harms,
    and the distinct responses with a confirmed harm."""
    confirmed = Q(harm_decision__decision=HarmDecision.Decision.CONFIRMED)
    counts = {row["response__arm__name"]: row for row in harm_flags_all(study).values("response__arm__name").annotate(
        flags=Count("id"), decided=Count("id", filter=Q(harm_decision__isnull=False)),
        confirmed=Count("id", filter=confirmed),
        responses_confirmed=Count("response", filter=confirmed, distinct=True))}
    arms = study_arm_names(study)
    return [{"arm": arm, **{k: counts.get(arm, {}).get(k, 0)
                            for k in ("flags", "decided", "confirmed", "responses_confirmed")}} for arm in arms]
