"""Registering model arms: a model our workers load (base model, optional adapter), or a
model an OpenAI-compatible server serves (an endpoint arm); and the rule for a study's
arms, which every way of changing them (the study's settings page, the API, the Django
admin) goes through: they change only while the study is a draft."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import pluralize

from annotations.errors import InvalidRequest, StateConflict
from annotations.models import ModelArm, Study, StudyArm
from annotations.models.bounds import ARMS_PER_SCREEN, MAX_STUDY_ARMS
from annotations.services.audit import audit_record

# What an arm's registration records of it (never an API key: only the variable's name).
ARM_FIELDS = ("name", "method", "base_model", "adapter_path", "endpoint_url", "served_model", "api_key_env",
              "max_concurrency", "request_timeout_s", "max_retries", "uses_behavior_tokens", "prompt_template", "decoding_params", "description")


def study_arms_check(*, study: Study, count: int | None = None) -> None:
    """Refuse to change the arms of ``study`` unless it is a draft (StateConflict), or to
    give it more than MAX_STUDY_ARMS, or fewer than a screen of it shows
    (:func:`arms_per_screen_check`) (InvalidRequest; ``count``: how many it would have).
    Raters' cases are planned from the arms: an arm added to an open study has no responses yet, so the
    next plan finds no case every arm answered and empties every rater's queue."""
    if study.status != Study.Status.DRAFT:
        raise StateConflict(f"The arms of study {study.slug!r} are fixed: it is "
                            f"{study.get_status_display().lower()}, and its raters' cases are planned from them. "
                            "Compare another arm in a new study.")
    if count is not None and count > MAX_STUDY_ARMS:
        raise InvalidRequest(f"A study compares at most {MAX_STUDY_ARMS} arms (one letter each on the rating page).")
    if count is not None:
        arms_per_screen_check(study=study, count=count, was=study.arms_per_screen)


def arms_per_screen_check(*, study: Study, count: int, was: int | None) -> None:
    """Refuse the responses per screen ``study.arms_per_screen`` (as it would be saved)
    where it differs from ``was`` while the study is not a draft (StateConflict: its cases
    are planned in blocks of that size), or where the study cannot show it: fewer than two,
    or more than its ``count`` arms (InvalidRequest). Blank shows every arm."""
    per_screen = study.arms_per_screen
    if per_screen != was and study.status != Study.Status.DRAFT:
        raise StateConflict(f"The responses per screen of study {study.slug!r} are fixed: it is "
                            f"{study.get_status_display().lower()}, and its raters' cases are planned from them.")
    if per_screen is None:
        return
    if per_screen not in ARMS_PER_SCREEN:
        raise InvalidRequest(f"A screen shows {ARMS_PER_SCREEN.low} to {ARMS_PER_SCREEN.high} responses "
                             "(blank: every arm's).")
    if per_screen > count:
        raise InvalidRequest(f"A screen cannot show {per_screen} responses of a study that compares "
                             f"{count} arm{pluralize(count)}: choose the arms first, or show fewer per screen "
                             "(blank: every arm's).")


def _studies_locked(studies: Sequence[Study]) -> list[Study]:
    """The studies, locked for this transaction, each checked to take one more arm."""
    locked = list(Study.objects.select_for_update().filter(pk__in=[s.pk for s in studies]).order_by("pk"))
    for study in locked:
        study_arms_check(study=study, count=study.study_arms.count() + 1)
    return locked


def arm_register(*, actor, name: str, method: str, studies: Sequence[Study] = (), **fields) -> ModelArm:
    """Create an arm (validated as the admin page validates it) and add it to ``studies``
    after their current arms; each must be a draft (:func:`study_arms_check`), or nothing
    is created. ``fields``: any of :data:`ARM_FIELDS`."""
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
        studies = _studies_locked(studies)
        arm.save()
        for study in studies:
            last = StudyArm.objects.filter(study=study).order_by("-position").values_list("position", flat=True).first()
            StudyArm.objects.create(study=study, arm=arm, position=0 if last is None else last + 1)
        audit_record(actor=actor, action="arm.register", obj=arm,
                     summary=f"{arm.name} ({arm.get_method_display()}"
                             f"{', endpoint ' + arm.endpoint_url if arm.is_endpoint else ''})",
                     after={f: getattr(arm, f) for f in ARM_FIELDS} | {"studies": [s.slug for s in studies]})
    return arm
