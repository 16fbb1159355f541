"""A study's life: draft (invisible to raters), open (rated), closed (no new submissions,
with the reason raters are told). Status changes go through here only."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotations.errors import InvalidRequest, StateConflict
from annotations.models import Study
from annotations.services.audit import audit_record

# From each status, where a study may go next. A closed study may reopen (a study closed
# by mistake, or extended); a study once opened never returns to draft, since raters have
# seen its cases.
TRANSITIONS = {
    Study.Status.DRAFT: (Study.Status.OPEN,),
    Study.Status.OPEN: (Study.Status.CLOSED,),
    Study.Status.CLOSED: (Study.Status.OPEN,),
}
MAX_REASON = 1000


def study_set_status(*, study: Study, status: str, reason: str = "", actor=None) -> Study:
    """Move the study to ``status``; closing needs a reason (shown to raters)."""
    reason = (reason or "").strip()
    if status not in Study.Status.values:
        raise InvalidRequest(f"Unknown study status {status!r}.")
    if status == Study.Status.CLOSED and not reason:
        raise InvalidRequest("Say why the study is closed: raters who come back are told.")
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise InvalidRequest(f"The reason must be at most {MAX_REASON} characters of text.")
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        before = locked.status
        if status not in TRANSITIONS[before]:
            raise StateConflict(f"A {locked.get_status_display().lower()} study cannot become "
                                f"{Study.Status(status).label.lower()}.")
        locked.status = status
        locked.status_changed_at = timezone.now()
        locked.closed_reason = reason if status == Study.Status.CLOSED else ""
        locked.save(update_fields=["status", "status_changed_at", "closed_reason"])
        audit_record(actor=actor, action="study.status", obj=locked, summary=f"{before} -> {status}"
                     + (f": {reason[:200]}" if reason else ""),
                     before={"status": before}, after={"status": status, "reason": reason})
    study.status, study.status_changed_at, study.closed_reason = locked.status, locked.status_changed_at, \
        locked.closed_reason
    return study

