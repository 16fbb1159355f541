"""Role checks for the REST API. Roles are groups (``evalportal.roles``); an anonymous
request fails every check, which DRF turns into 401 (or 403 without credentials)."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER, user_role


class _RolePermission(BasePermission):
    read_roles: tuple[str, ...] = ()
    write_roles: tuple[str, ...] = ()
    message = "Your role does not give access to this endpoint."

    def has_permission(self, request, view) -> bool:
        role = user_role(request.user)
        if role is None:
            return False
        return role in (self.read_roles if request.method in SAFE_METHODS else self.write_roles)


class IsResearcherOrAdmin(_RolePermission):
    """Unblinded, read-only data. Any method passes the role check, so an unsupported
    method on a read-only endpoint answers 405, not 403."""

    read_roles = write_roles = (RESEARCHER, ADMIN)


class ResearcherReadsAdminWrites(_RolePermission):
    """Jobs: researchers and admins read; only admins queue, cancel and retry."""

    read_roles = (RESEARCHER, ADMIN)
    write_roles = (ADMIN,)


class HasRole(_RolePermission):
    """Any of the three roles (the view narrows what a clinician sees)."""

    read_roles = write_roles = (CLINICIAN, RESEARCHER, ADMIN)
