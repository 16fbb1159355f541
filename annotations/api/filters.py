"""django-filter filter sets of the REST API, and what an id is wherever the API takes one
(a filter, a request body, an object's path). Studies are named by slug, raters by
username, everything else by id."""

from __future__ import annotations

import django_filters as filters
from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.ids import ID_RULE, MAX_ID, strict_id
from annotations.models import (
    Assignment,
    Case,
    GenerationJob,
    JobStatus,
    JudgeJob,
    ModelArm,
    Preference,
    Rating,
    Response,
    Study,
    TrainingJob,
)
from annotations.models.arm import TRAINING_METHODS
from annotations.models.case import Category


class IdField(serializers.PrimaryKeyRelatedField):
    """An object named by its id, strictly (:func:`strict_id`)."""

    default_error_messages = {"not_an_id": f"Not an id: {ID_RULE}."}

    def to_internal_value(self, data):
        pk = strict_id(data)
        if pk is None:
            self.fail("not_an_id")
        return super().to_internal_value(pk)


class IdFormField(forms.IntegerField):
    """Django reads "1.0", " 1" and "+1" as 1; an id is digits only."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        number = strict_id(value)
        if number is None:
            raise forms.ValidationError(f"Not an id: {ID_RULE}.", code="invalid")
        return number


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """An object id: a whole number from 1 to 2^63 - 1, in digits. Anything else (a
    decimal, a sign, a number too large for the database) is a 400 that names the
    parameter, not a guess."""

    field_class = IdFormField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StudyFilter(filters.FilterSet):
    class Meta:
        model = Study
        fields = ["status"]


class CaseFilter(filters.FilterSet):
    study = filters.CharFilter(field_name="study__slug", help_text="Study slug.")
    task = filters.CharFilter()
    category = filters.ChoiceFilter(choices=Category.choices)
    split = filters.ChoiceFilter(choices=Case.Split.choices)
    external_id = filters.CharFilter()

    class Meta:
        model = Case
        fields = ["study", "task", "category", "split", "external_id"]


class ArmFilter(filters.FilterSet):
    study = filters.CharFilter(field_name="study_arms__study__slug", help_text="Arms compared in this study (slug).")
    method = filters.ChoiceFilter(choices=ModelArm.Method.choices)

    class Meta:
        model = ModelArm
        fields = ["study", "method"]


class ResponseFilter(filters.FilterSet):
    study = filters.CharFilter(field_name="case__study__slug", help_text="Study slug.")
    arm = IdFilter(field_name="arm_id", help_text="Arm id.")
    case = IdFilter(field_name="case_id", help_text="Case id.")
    case_external_id = filters.CharFilter(field_name="case__external_id")
    job = IdFilter(field_name="job_id", help_text="Generation job id.")
    predicted_behavior = filters.CharFilter()

    class Meta:
        model = Response
        fields = ["study", "arm", "case", "case_external_id", "job", "predicted_behavior"]


class RatingFilter(filters.FilterSet):
    """Current revisions only unless ``revisions=all``."""

    REVISIONS = [("current", "Current revisions only (default)"), ("all", "Every revision, superseded ones too")]

    study = filters.CharFilter(field_name="submission__assignment__study__slug", help_text="Study slug.")
    dimension = filters.CharFilter()
    arm = IdFilter(field_name="response__arm_id", help_text="Arm id.")
    arm_name = filters.CharFilter(field_name="response__arm__name")
    rater = filters.CharFilter(field_name="submission__assignment__rater__username", help_text="Rater's username.")
    assignment = IdFilter(field_name="submission__assignment_id")
    revisions = filters.ChoiceFilter(choices=REVISIONS, method="filter_revisions", empty_label=None,
                                     help_text="current (default) or all.")

    class Meta:
        model = Rating
        fields = ["study", "dimension", "arm", "arm_name", "rater", "assignment", "revisions"]

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and not data.get("revisions"):
            data = data.copy()
            data["revisions"] = "current"
        super().__init__(data, *args, **kwargs)

    def filter_revisions(self, queryset, name, value):
        return queryset if value == "all" else queryset.filter(submission__is_current=True)


class RankingFilter(RatingFilter):
    """A rating's filters but the dimension (a ranking is the whole response's)."""

    dimension = None

    class Meta:
        model = Preference
        fields = ["study", "arm", "arm_name", "rater", "assignment", "revisions"]


class AssignmentFilter(filters.FilterSet):
    study = filters.CharFilter(field_name="study__slug", help_text="Study slug.")
    status = filters.ChoiceFilter(choices=Assignment.Status.choices)
    rater = filters.CharFilter(field_name="rater__username",
                               help_text="Rater's username (a clinician only ever sees their own).")

    class Meta:
        model = Assignment
        fields = ["study", "status", "rater"]


class _JobFilter(filters.FilterSet):
    study = filters.CharFilter(field_name="study__slug", help_text="Study slug.")
    status = filters.ChoiceFilter(choices=JobStatus.choices)


class GenerationJobFilter(_JobFilter):
    arm = IdFilter(field_name="arm_id", help_text="Arm id.")

    class Meta:
        model = GenerationJob
        fields = ["study", "status", "arm"]


class TrainingJobFilter(_JobFilter):
    method = filters.ChoiceFilter(choices=TRAINING_METHODS)

    class Meta:
        model = TrainingJob
        fields = ["study", "status", "method"]


class JudgeJobFilter(_JobFilter):
    kind = filters.ChoiceFilter(choices=JudgeJob.Kind.choices)

    class Meta:
        model = JudgeJob
        fields = ["study", "status", "kind"]
