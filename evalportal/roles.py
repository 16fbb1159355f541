"""Roles are Django groups: clinician, researcher, admin. A user has one role; an admin
is also Django staff and superuser. Views check roles through these helpers only."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, wraps

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.db import connection

from evalportal import sql

CLINICIAN = "clinician"
RESEARCHER = "researcher"
ADMIN = "admin"
ROLES = (CLINICIAN, RESEARCHER, ADMIN)
ROLES_BY_RANK = (ADMIN, RESEARCHER, CLINICIAN)  # a user in several role groups has the first


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
        role = next((r for r in ROLES_BY_RANK if r in names), None)
    user._evalportal_role = role
    return role


@cache  # built once per user model, not on every request
def _user_with_role_sql(user_model) -> str:
    """The user's row and their highest-ranking role group (admin, then researcher, then
    clinician) as ``group_role``. Plain SQL: built with the ORM (an annotated subquery)
    on every request, this query cost more to compile than to run."""
    q = connection.ops.quote_name
    groups = user_model._meta.get_field("groups")
    link = groups.remote_field.through
    link_user, link_group = q(groups.m2m_column_name()), q(groups.m2m_reverse_name())
    user_pk = sql.pk(user_model)
    return (f"SELECT {sql.all_columns(user_model, prefix='u.')}, (SELECT g.name FROM {sql.table(Group)} g "
            f"JOIN {sql.table(link)} ug ON g.{sql.pk(Group)} = ug.{link_group} "
            f"WHERE ug.{link_user} = u.{user_pk} AND g.name IN (%s, %s, %s) "
            f"ORDER BY CASE g.name WHEN %s THEN 0 WHEN %s THEN 1 ELSE 2 END LIMIT 1) AS group_role "
            f"FROM {sql.table(user_model)} u WHERE u.{user_pk} = %s")


class RoleAwareModelBackend(ModelBackend):
    """Django's model backend, loading the session's user and their role in one query:
    every page checks the role, so this saves a query on every request. The role is
    read afresh on each request, so a role change takes effect at once."""

    def get_user(self, user_id):
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        params = [*ROLES_BY_RANK, *ROLES_BY_RANK[:2], user_id]  # IN (...), then ORDER BY CASE's ranks
        user = next(iter(user_model._default_manager.raw(_user_with_role_sql(user_model), params)), None)
        if user is None or not self.user_can_authenticate(user):
            return None
        user._evalportal_role = ADMIN if user.is_superuser else user.group_role
        return user


def has_role(user, roles: Iterable[str]) -> bool:
    return user_role(user) in set(roles)


def page_audience(roles: Iterable[str]) -> str:
    """Who a page of ``roles`` is for, in words ("researchers": admins may open every
    researcher's page, so they go unnamed beside another role)."""
    roles = set(roles)
    named = [r for r in ROLES if r in roles and (r != ADMIN or roles == {ADMIN})]
    return " and ".join(f"{r}s" for r in named)


def role_required(*roles: str):
    """View decorator: anonymous users go to login, users without the role get 403 (the
    page templates/403.html, saying whom the page is for)."""
    from django.contrib.auth.views import redirect_to_login

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, roles):
                raise PermissionDenied(f"This page is for {page_audience(roles)}.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def role_context(request) -> dict:
    role = user_role(getattr(request, "user", None))
    return {"user_role": role, "is_researcher": role in (RESEARCHER, ADMIN), "is_admin": role == ADMIN}
