"""Roles are Django groups: clinician, researcher, admin. A user has one role; an admin
is also Django staff and superuser. Views check roles through these helpers only."""

from __future__ import annotations

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied

CLINICIAN = "clinician"
RESEARCHER = "researcher"
ADMIN = "admin"
ROLES = (CLINICIAN, RESEARCHER, ADMIN)


def ensure_role_groups() -> dict[str, Group]:
    return {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}


def user_role(user: AbstractBaseUser | AnonymousUser | None) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(user, "_evalportal_role", False)
    if cached is not False:
        return cached
    if user.is_superuser:
        role = ADMIN
    else:
        names = set(user.groups.values_list("name", flat=True))
        role = next((r for r in (ADMIN, RESEARCHER, CLINICIAN) if r in names), None)
    user._evalportal_role = role
    return role


def has_role(user, roles: Iterable[str]) -> bool:
    return user_role(user) in set(roles)


def role_required(*roles: str):
    """View decorator: anonymous users go to login, users without the role get 403."""
    from django.contrib.auth.views import redirect_to_login

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, roles):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def role_context(request) -> dict:
    role = user_role(getattr(request, "user", None))
    return {"user_role": role, "is_researcher": role in (RESEARCHER, ADMIN), "is_admin": role == ADMIN}
