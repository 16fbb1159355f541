from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from annotations.services.audit import audit_record
from evalportal.roles import ADMIN, ROLES, ensure_role_groups, user_role


def user_set_role(*, user, role: str, actor=None) -> None:
    """Give a user exactly one role. Admins are Django staff and superusers."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    groups = ensure_role_groups()
    with transaction.atomic():
        before = user_role(user)
        user.groups.remove(*[g for name, g in groups.items() if name != role])
        user.groups.add(groups[role])
        user.is_staff = user.is_superuser = role == ADMIN
        user.save(update_fields=["is_staff", "is_superuser"])
        user.__dict__.pop("_evalportal_role", None)
        if before != role:
            audit_record(actor=actor, action="user.role", obj=user, summary=f"{user.username}: {before} -> {role}",
                         before={"role": before}, after={"role": role})


def user_create(*, username: str, password: str, role: str, email: str = "", actor=None):
    """Create a user with a role; raises ValueError when the name is taken or the role unknown."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise ValueError(f"a user named {username!r} already exists")
        user = User.objects.create_user(username=username, password=password, email=email)
        user_set_role(user=user, role=role, actor=actor)
    return user


def user_password_set(*, user, password: str, how: str) -> None:
    """Set a password a Django auth form has validated (``how``: "change" or "reset")
    and record that it changed (never the password)."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=user, action=f"user.password_{how}", obj=user, summary=f"{user.username}: password {how}")
