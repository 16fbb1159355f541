from __future__ import annotations

from typing import Any

from annotations.models import AuditEvent


def audit_record(*, actor, action: str, obj: Any = None, summary: str = "",
                 before: Any = None, after: Any = None) -> AuditEvent:
    """Append one audit event. Call inside the transaction of the write it records."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "pk", "") or "") if obj is not None else "",
        summary=summary[:500],
        before=before,
        after=after,
    )
