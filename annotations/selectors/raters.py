"""The research team's view of a study's raters: standing, progress, pace and time on task;
and what a rater may see of their own work, the same through the pages and the API."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from annotations.models import Assignment, Study, StudyRater
from annotations.selectors.rater_access import open_to_rater_conditions

RECENT_DAYS = 7


def study_raters(study: Study) -> list[dict]:
    """One row per rater who has work in the study or a standing there: status,
    assigned / submitted / open, active time on task (total and median per case), pace
    (cases per active hour, and submitted in the last RECENT_DAYS days) and when they last
    submitted."""
    standings = {s.rater_id: s for s in StudyRater.objects.filter(study=study)}
    per_rater: dict[int, dict] = defaultdict(lambda: {"assigned": 0, "submitted": 0, "seconds": [], "last": None,
                                                      "recent": 0})
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    rows = (Assignment.objects.filter(study=study, rater__isnull=False)
            .values_list("rater_id", "status", "active_seconds", "submitted_at"))
    for rater_id, status, seconds, submitted_at in rows.iterator(chunk_size=5000):
        entry = per_rater[rater_id]
        entry["assigned"] += 1
        if status == Assignment.Status.SUBMITTED:
            entry["submitted"] += 1
            entry["seconds"].append(seconds or 0.0)
            if submitted_at and (entry["last"] is None or submitted_at > entry["last"]):
                entry["last"] = submitted_at
            if submitted_at and submitted_at >= since:
                entry["recent"] += 1
    ids = set(per_rater) | set(standings)
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=ids)}
    out = []
    for rater_id in sorted(ids, key=lambda pk: users[pk].username):
        entry, standing = per_rater[rater_id], standings.get(rater_id)
        total = sum(entry["seconds"])
        out.append({
            "user": users[rater_id], "status": standing.status if standing else StudyRater.Status.ACTIVE,
            "assigned": entry["assigned"], "submitted": entry["submitted"],
            "open": entry["assigned"] - entry["submitted"],
            "active_minutes": round(total / 60, 1),
            "median_minutes": round(statistics.median(entry["seconds"]) / 60, 1) if entry["seconds"] else None,
            "cases_per_hour": round(entry["submitted"] / (total / 3600), 1) if total > 0 else None,
            "recent": entry["recent"], "last_submitted": entry["last"],
            "instructions_acknowledged_at": standing.instructions_acknowledged_at if standing else None,
        })
    return out


def studies_open_to_rater(rater):
    """The studies whose cases the rater may be shown now, as the rating page decides: open
    ones, unless they were removed there, once onboarded there (instructions acknowledged,
    consent given, practice done, for a study that has each): the rule of
    ``selectors/rater_access.py``, which the rating page applies too."""
    return Study.objects.filter(*open_to_rater_conditions(rater))


def rater_assignments(rater):
    """The rater's own assignments that the rating pages would show them: those of
    :func:`studies_open_to_rater`, blinded by whoever renders them."""
    return (Assignment.objects.filter(rater=rater, study__in=studies_open_to_rater(rater))
            .select_related("study", "case").order_by("study_id", "queue_position", "id"))
