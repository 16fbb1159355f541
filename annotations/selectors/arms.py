"""A study's arms in the study's order (position, then the order they were added), and the
seed its statistics draw from: what every table, figure, slot order and analysis of a
study lists its arms by."""

from __future__ import annotations

from django.db.models import QuerySet

from annotations.models import ModelArm, Study, StudyArm


def _study_arm_rows(study: Study) -> QuerySet[StudyArm]:
    return StudyArm.objects.filter(study=study).order_by("position", "id")


def study_arms_in_order(study: Study) -> QuerySet[ModelArm]:
    """The study's arms (``ModelArm`` rows) in the study's order."""
    return ModelArm.objects.filter(study_arms__study=study).order_by("study_arms__position", "study_arms__id")


def study_arm_ids(study: Study) -> list[int]:
    """The ids of the study's arms, in the study's order."""
    return list(_study_arm_rows(study).values_list("arm_id", flat=True))


def study_arm_names(study: Study) -> list[str]:
    """The names of the study's arms, in the study's order (how the analysis labels them)."""
    return list(_study_arm_rows(study).values_list("arm__name", flat=True))


def study_arm_names_by_id(study: Study) -> dict[int, str]:
    """Arm id -> name, for the study's arms, in the study's order."""
    return dict(_study_arm_rows(study).values_list("arm_id", "arm__name"))


def analysis_seed(study: Study) -> int:
    """The study's seed as numpy's generators take it (a 32-bit unsigned number): what
    every bootstrap of the study's analysis draws from."""
    return study.seed % (2**32)


def all_arms() -> QuerySet[ModelArm]:
    """Every arm, by name, for a choice among all of them (a study's settings, a job's arm)."""
    return ModelArm.objects.all()


def arms_with_studies() -> QuerySet[ModelArm]:
    """Every arm with the studies it is in (the API's list)."""
    return ModelArm.objects.prefetch_related("studies").order_by("id")
