"""Roles are Django groups: clinician, researcher, admin. A user has one role; an admin
is also Django staff and superuser. Views check roles through these helpers only."""

from __future__ import annotations

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When

CLINICIAN = "clinician"
RESEARCHER = "researcher"
ADMIN = "admin"
ROLES = (CLINICIAN, RESEARCHER, ADMIN)


def ensure_role_groups() -> dict[str, Group]:
    return {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}


def _group_role_subquery() -> Subquery:
    """The user's highest-ranking role group (admin, then researcher, then clinician)."""
    rank = Case(When(name=ADMIN, then=Value(0)), When(name=RESEARCHER, then=Value(1)), default=Value(2),
                output_field=IntegerField())
    return Subquery(Group.objects.filter(user=OuterRef("pk"), name__in=ROLES)
                    .annotate(rank=rank).order_by("rank").values("name")[:1])


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


class RoleAwareModelBackend(ModelBackend):
    """Django's model backend, loading the session's user and their role in one query:
    every page checks the role, so this saves a query on every request. The role is
    read afresh on each request, so a role change takes effect at once."""

    def get_user(self, user_id):
        from django.contrib.auth import get_user_model

        user = (get_user_model()._default_manager.annotate(group_role=_group_role_subquery())
                .filter(pk=user_id).first())
        if user is None or not self.user_can_authenticate(user):
            return None
        user._evalportal_role = ADMIN if user.is_superuser else user.group_role
        return user


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
