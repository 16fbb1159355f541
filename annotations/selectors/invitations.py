from __future__ import annotations

from annotations.models import Invitation


def invitation_list(limit: int = 500):
    """The newest invitations, with who sent them."""
    return Invitation.objects.select_related("user", "invited_by").order_by("-created_at", "-id")[:limit]

