"""The fields the API's serializers share: choice sets as named OpenAPI enums, a study
named by its slug, and nested objects that refuse unknown keys."""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.models import Assignment, Case, JobStatus, JudgeJob, ModelArm, Study
from annotations.models.arm import TRAINING_METHODS
from annotations.models.case import Category
from annotations.selectors.studies import all_studies

SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")


def _enum_field(component: str, choices) -> type[serializers.ChoiceField]:
    """A choice field whose OpenAPI enum is one named component, so choice sets that
    share a field name ("status", "method") never collide in the schema."""
    choices = list(choices)
    schema = {"type": "string", "enum": [value for value, _ in choices],
              "description": "\n".join(f"* `{value}` - {label}" for value, label in choices)}

    @extend_schema_field(schema, component_name=component)
    class EnumField(serializers.ChoiceField):
        def __init__(self, **kwargs):
            super().__init__(choices=choices, **kwargs)

    EnumField.__name__ = EnumField.__qualname__ = f"{component}Field"
    return EnumField


StudyStatusField = _enum_field("StudyStatusEnum", Study.Status.choices)
JobStatusField = _enum_field("JobStatusEnum", JobStatus.choices)
AssignmentStatusField = _enum_field("AssignmentStatusEnum", Assignment.Status.choices)
CategoryField = _enum_field("CategoryEnum", Category.choices)
SplitField = _enum_field("SplitEnum", Case.Split.choices)
ArmMethodField = _enum_field("ArmMethodEnum", ModelArm.Method.choices)
TrainingMethodField = _enum_field("TrainingMethodEnum", TRAINING_METHODS)
JudgeKindField = _enum_field("JudgeKindEnum", JudgeJob.Kind.choices)


class StudySlugField(serializers.SlugRelatedField):
    """A study named by its slug in a request; a value no slug can be (a NUL, say, which
    PostgreSQL cannot even compare) is an unknown study, not a server error."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", queryset=all_studies(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not SLUG.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:100])
        return super().to_internal_value(data)


class KnownKeysSerializer(serializers.Serializer):
    """A nested object whose unknown keys are refused, not silently dropped."""

    unknown_message = "Unknown key"

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"{self.unknown_message}; known: {', '.join(self.fields)}."] for key in unknown})
        return super().to_internal_value(data)
