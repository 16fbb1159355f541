"""Registering model arms: a model our workers load (base model, optional adapter), or a
model an OpenAI-compatible server serves (an endpoint arm)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.errors import InvalidRequest
from annotations.models import ModelArm, Study, StudyArm
from annotations.services.audit import audit_record

# What an arm's registration records of it (never an API key: only the variable's name).
ARM_FIELDS = ("name", "method", "base_model", "adapter_path", "endpoint_url", "served_model", "api_key_env",
              "max_concurrency", "uses_behavior_tokens", "prompt_template", "decoding_params", "description")


def arm_register(*, actor, name: str, method: str, studies: Sequence[Study] = (), **fields) -> ModelArm:
    """Create an arm (validated as the admin page validates it) and add it to ``studies``
    after their current arms. ``fields``: any of :data:`ARM_FIELDS`."""
    unknown = set(fields) - set(ARM_FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown arm field(s): {', '.join(sorted(unknown))}.")
    arm = ModelArm(name=name, method=method, **fields)
    try:
        arm.full_clean()
    except ValidationError as exc:
        raise InvalidRequest(" ".join(f"{field}: {' '.join(messages)}"
                                      for field, messages in exc.message_dict.items())) from None
    with transaction.atomic():
        arm.save()
        for study in studies:
            last = StudyArm.objects.filter(study=study).order_by("-position").values_list("position", flat=True).first()
            StudyArm.objects.create(study=study, arm=arm, position=0 if last is None else last + 1)
        audit_record(actor=actor, action="arm.register", obj=arm,
                     summary=f"{arm.name} ({arm.get_method_display()}"
                             f"{', endpoint ' + arm.endpoint_url if arm.is_endpoint else ''})",
                     after={f: getattr(arm, f) for f in ARM_FIELDS} | {"studies": [s.slug for s in studies]})
    return arm
