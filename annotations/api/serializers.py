"""Serializers of the REST API. Output serializers are flat and read-only; the input
serializers (queue a generation, training or judge job) only validate, the views hand
the validated data to the job services.

Blinding: ``BlindedAssignmentSerializer`` is the only serializer a clinician ever gets.
It carries slot letters and blinded texts, never a response, arm or job id, arm or
model name, behavior token or gold label."""

from __future__ import annotations

import json
import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.api.filters import IdField
from annotations.forms import BASE_MODEL_HELP, JUDGE_MODEL_HELP
from annotations.models import (
    Assignment,
    Case,
    GenerationJob,
    JobStatus,
    JudgeJob,
    ModelArm,
    Rating,
    Response,
    Study,
    StudyAnalysis,
    StudyArm,
    TrainingJob,
    bounds,
)
from annotations.models.arm import TRAINING_METHODS
from annotations.models.case import Category
from annotations.models.jobs import MAX_LISTED_CASES
from annotations.param_fields import param_serializer_fields
from annotations.rating_input import slot_letter
from annotations.rating_row import FIELDS, RATING_ROW, RatingField
from annotations.selectors.arms import all_arms
from annotations.selectors.rating import blind_text
from annotations.selectors.readings import readings_of_ratings
from annotations.selectors.responses import response_arms, response_texts
from annotations.selectors.studies import all_studies, study_cases_by_external_id
from modeling.behavior import SILENT_TEXT
from modeling.params import GenerationParams, JudgeParams, TrainParams

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


# --- studies, cases, arms, responses (researchers and admins) ------------------------------

class StudyArmSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="arm.id", read_only=True)
    name = serializers.CharField(source="arm.name", read_only=True)
    method = ArmMethodField(source="arm.method", read_only=True)

    class Meta:
        model = StudyArm
        fields = ["id", "name", "method", "position"]


class StudySlugField(serializers.SlugRelatedField):
    """A study named by its slug in a request; a value no slug can be (a NUL, say, which
    PostgreSQL cannot even compare) is an unknown study, not a server error."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", queryset=all_studies(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not SLUG.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:100])
        return super().to_internal_value(data)


class StudySerializer(serializers.ModelSerializer):
    status = StudyStatusField(read_only=True)
    arms = StudyArmSerializer(source="study_arms", many=True, read_only=True)

    class Meta:
        model = Study
        fields = ["id", "slug", "name", "status", "instructions", "rubric", "raters_per_item", "seed",
                  "assignment_timeout_minutes", "extra_tasks", "arms", "created_at", "updated_at"]
        read_only_fields = fields


class StudyAnalysisSerializer(serializers.ModelSerializer):
    """A study's stored analysis: what its dashboard shows, computed after submissions or
    on demand (``result`` is null until then)."""

    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    stale = serializers.BooleanField(read_only=True, help_text="Submissions newer than the analysis: an update is "
                                                               "queued.")
    result = serializers.JSONField(read_only=True, help_text=(
        "meta, descriptives, paired_tests, judgments, preferences, agreement, position_bias (the clinicians' "
        "ratings); automatic and automatic_comparison (the automatic metrics per arm); automatic_reading (what "
        "they read \"was the planted problem named\" from: the terms' reading or a judge job's); "
        "reading_agreement (the automatic reading against each clinician's intervention answer: agreement, "
        "Cohen's kappa with cluster-bootstrap CIs and harm flags, per arm and overall; the judge's planted "
        "reading beside it where a judge job read the responses); progress."))

    class Meta:
        model = StudyAnalysis
        fields = ["study", "computed_at", "compute_seconds", "n_ratings", "stale", "error", "result"]
        read_only_fields = fields


class CaseSerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    category = CategoryField(read_only=True)
    gold_behavior = CategoryField(read_only=True)
    split = SplitField(read_only=True)

    class Meta:
        model = Case
        fields = ["id", "study", "external_id", "task", "category", "specialty", "split", "turns", "tables",
                  "images", "question", "gold_behavior", "label_space", "gold_label", "reference_response",
                  "planted_problem", "metadata", "content_hash", "created_at"]
        read_only_fields = fields


class ModelArmSerializer(serializers.ModelSerializer):
    method = ArmMethodField(read_only=True)
    studies = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = ModelArm
        fields = ["id", "name", "method", "base_model", "adapter_path", "endpoint_url", "served_model",
                  "api_key_env", "max_concurrency", "uses_behavior_tokens", "prompt_template", "decoding_params",
                  "checkpoint_hash", "description", "studies", "created_at"]
        read_only_fields = fields


class ResponseSerializer(serializers.ModelSerializer):
    study = serializers.CharField(source="case.study.slug", read_only=True)
    case_external_id = serializers.CharField(source="case.external_id", read_only=True)
    arm_name = serializers.CharField(source="arm.name", read_only=True)

    class Meta:
        model = Response
        fields = ["id", "study", "case", "case_external_id", "arm", "arm_name", "job", "text", "raw_text",
                  "predicted_behavior", "prompt_tokens", "completion_tokens", "latency_s", "provenance",
                  "names_model", "created_at"]
        read_only_fields = fields


_RATING_API_FIELDS = {"int16": serializers.IntegerField, "int32": serializers.IntegerField,
                      "int64": serializers.IntegerField, "float": serializers.FloatField,
                      "text": serializers.CharField, "bool": serializers.BooleanField,
                      "time": serializers.DateTimeField}


def _rating_api_field(field: RatingField) -> serializers.Field:
    """The API's field for one field of the rating row: read where the export reads it."""
    kind = _RATING_API_FIELDS[field.kind]
    if field.part in ("rating", "submission", "response", "harm"):
        # Past the rating's own columns a value may be missing (no harm decision, a case
        # released from its rater): null.
        nullable = {} if field.part == "rating" and field.kind != "float" else {"allow_null": True}
        source = field.orm_path.replace("__", ".")
        if source != field.key:  # DRF refuses a source that repeats the name
            nullable["source"] = source
        return kind(read_only=True, help_text=field.help or None, **nullable)
    return serializers.SerializerMethodField(help_text=field.help or None)


class RatingSerializer(serializers.Serializer):
    """One row per rating (response x dimension of a submission), long format: the fields
    of ``annotations/rating_row.py``, as the exports have them (a few under the names the
    API gave them first). The readings come from the view's context (one read per page)."""

    def get_fields(self):
        return {field.key: _rating_api_field(field) for field in RATING_ROW}

    def _provenance(self, rating: Rating, name: str):
        """A key of the response's provenance, as the export reads it (a number, or text:
        JSON for what is not)."""
        value = (rating.response.provenance or {}).get(FIELDS[name].path)
        if FIELDS[name].kind == "int64":
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        return value if value is None or isinstance(value, str) else json.dumps(value)

    def _reading(self, rating: Rating, index: int) -> str | None:
        readings = self.context.get("readings")
        if readings is None:
            readings = readings_of_ratings([rating])
        return readings.get(rating.response_id, (None, None))[index]

    @extend_schema_field(OpenApiTypes.STR)
    def get_slot_letter(self, rating: Rating) -> str:
        return slot_letter(rating.slot)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_automatic_intervention(self, rating: Rating) -> str | None:
        return self._reading(rating, 0)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_judge_intervention(self, rating: Rating) -> str | None:
        return self._reading(rating, 1)


def _provenance_getter(name: str):
    def get(self, rating: Rating):
        return self._provenance(rating, name)

    kind = {"int64": {"type": "integer", "nullable": True}}.get(FIELDS[name].kind, {"type": "string", "nullable": True})
    return extend_schema_field(kind)(get)


for _field in RATING_ROW:
    if _field.part == "provenance":
        setattr(RatingSerializer, f"get_{_field.key}", _provenance_getter(_field.name))


# --- jobs -------------------------------------------------------------------------------

_JOB_FIELDS = ["id", "study", "status", "progress_done", "progress_total", "progress_percent", "tokens_per_s",
               "eta_s", "celery_task_id", "cancel_requested", "error", "worker_host", "device_name", "attempts",
               "created_by", "created_at", "started_at", "finished_at"]


class _JobSerializer(serializers.ModelSerializer):
    status = JobStatusField(read_only=True)
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    progress_percent = serializers.FloatField(read_only=True)


class GenerationJobSerializer(_JobSerializer):
    arm_name = serializers.CharField(source="arm.name", read_only=True)

    class Meta:
        model = GenerationJob
        fields = _JOB_FIELDS[:3] + ["arm", "arm_name", "decoding_params", "seed"] + _JOB_FIELDS[3:]
        read_only_fields = fields


class TrainingJobSerializer(_JobSerializer):
    method = TrainingMethodField(read_only=True)

    class Meta:
        model = TrainingJob
        fields = (_JOB_FIELDS[:3] + ["method", "base_model", "hyperparameters", "loss_history", "result_arm",
                                     "adapter_path"] + _JOB_FIELDS[3:])
        read_only_fields = fields


class JudgeJobSerializer(_JobSerializer):
    kind = JudgeKindField(read_only=True)

    class Meta:
        model = JudgeJob
        fields = (_JOB_FIELDS[:3] + ["kind", "model_ref", "adapter_path", "base_url", "dimensions", "pairwise",
                                     "planted", "params", "judge_provenance", "analysis", "analysed_at"]
                  + _JOB_FIELDS[3:])
        read_only_fields = fields


class QueueGenerationSerializer(serializers.Serializer):
    """A generation job (the page's ``GenerationJobForm`` offers the same): the arm, which
    cases, and its decoding (``modeling.params.GenerationParams``; a setting left out is
    the arm's own, else the default)."""

    study = StudySlugField(help_text="Study slug.")
    arm = IdField(queryset=all_arms(), help_text="Id of an arm of the study.")
    cases = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, allow_empty=False, max_length=MAX_LISTED_CASES,
        help_text="external_id of each case to generate for; default: every test case of the study.")
    only_missing = serializers.BooleanField(required=False, default=False,
                                            help_text="Leave out the cases the arm has already answered.")

    def get_fields(self):
        return {**super().get_fields(), **param_serializer_fields(GenerationParams)}

    def validate(self, attrs):
        ids = attrs.get("cases")
        if ids is not None:
            wanted = list(dict.fromkeys(ids))
            found = study_cases_by_external_id(attrs["study"], wanted)
            unknown = [i for i in wanted if i not in found]
            if unknown:
                shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
                raise serializers.ValidationError({"cases": [f"Unknown case ids in study "
                                                             f"{attrs['study'].slug!r}: {shown}"]})
            attrs["cases"] = [found[i] for i in wanted]
        return attrs


class _KnownKeysSerializer(serializers.Serializer):
    """A nested object whose unknown keys are refused, not silently dropped."""

    unknown_message = "Unknown key"

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: [f"{self.unknown_message}; known: {', '.join(self.fields)}."] for key in unknown})
        return super().to_internal_value(data)


class ArmDecodingSerializer(_KnownKeysSerializer):
    """An arm's default decoding; a job's own settings win."""

    unknown_message = "Unknown decoding parameter"

    max_new_tokens = serializers.IntegerField(required=False, **bounds.MAX_NEW_TOKENS.limits)
    do_sample = serializers.BooleanField(required=False)
    temperature = serializers.FloatField(required=False, **bounds.TEMPERATURE.limits)
    top_p = serializers.FloatField(required=False, **bounds.TOP_P.limits)


class RegisterArmSerializer(serializers.Serializer):
    """A new arm: ``base_model`` (and ``adapter_path``) for a model our workers load, or
    ``endpoint_url`` and ``served_model`` for a model an OpenAI-compatible server serves.
    An API key is never sent here: ``api_key_env`` names the worker's variable that holds it."""

    name = serializers.CharField(max_length=120)
    method = ArmMethodField()
    base_model = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    adapter_path = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    endpoint_url = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    served_model = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    api_key_env = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    max_concurrency = serializers.IntegerField(required=False, default=8, **bounds.ENDPOINT_CONCURRENCY.limits)
    uses_behavior_tokens = serializers.BooleanField(required=False, default=False)
    decoding_params = ArmDecodingSerializer(required=False, default=dict)
    description = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)
    studies = StudySlugField(many=True, required=False, default=list,
                             help_text="Slugs of studies to add it to.")


class HyperparametersSerializer(_KnownKeysSerializer):
    """Training options (``modeling.params.TrainParams``); unset ones take the defaults."""

    unknown_message = "Unknown hyperparameter"

    def get_fields(self):
        return {**super().get_fields(), **param_serializer_fields(TrainParams)}


class QueueTrainingSerializer(serializers.Serializer):
    """A training job (the page's ``TrainingJobForm`` offers the same)."""

    study = StudySlugField(help_text="Study slug.")
    method = TrainingMethodField()
    base_model = serializers.CharField(max_length=500, default="demo", help_text=BASE_MODEL_HELP)
    hyperparameters = HyperparametersSerializer(required=False)


class JudgeParamsSerializer(_KnownKeysSerializer):
    """How the judge is asked (``modeling.params.JudgeParams``); unset ones take the defaults."""

    unknown_message = "Unknown judge parameter"

    def get_fields(self):
        return {**super().get_fields(), **param_serializer_fields(JudgeParams)}


class QueueJudgeSerializer(serializers.Serializer):
    """A judge job (the page's ``JudgeJobForm`` offers the same)."""

    study = StudySlugField(help_text="Study slug.")
    kind = JudgeKindField(default=JudgeJob.Kind.LOCAL)
    model_ref = serializers.CharField(max_length=500, required=False, default="", allow_blank=True,
                                      help_text=JUDGE_MODEL_HELP)
    adapter_path = serializers.CharField(max_length=500, required=False, default="", allow_blank=True,
                                         help_text="Local only: a LoRA adapter directory.")
    base_url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True,
                                    help_text="Endpoint only (default: JUDGE_OPENAI_BASE_URL).")
    dimensions = serializers.ListField(child=serializers.CharField(max_length=40), required=False,
                                       allow_empty=True, max_length=20,
                                       help_text="Keys of the judge dimensions (default: all six); empty only with "
                                                 "planted, for a job that only reads planted problems.")
    pairwise = serializers.BooleanField(default=False)
    planted = serializers.BooleanField(
        default=False, help_text="Also read whether each response to a case with a planted problem names it "
                                 "(stored per response; the dashboard can score the automatic metrics with it).")
    params = JudgeParamsSerializer(required=False)

    def validate(self, attrs):
        if attrs.get("dimensions") == [] and not attrs.get("planted"):
            raise serializers.ValidationError({"dimensions": ["Name at least one dimension, or set planted."]})
        return attrs


# --- assignments --------------------------------------------------------------------------

class BlindedCaseSerializer(serializers.Serializer):
    """What the rating page shows of a case: no id, task, category or gold label."""

    specialty = serializers.CharField()
    turns = serializers.JSONField()
    tables = serializers.JSONField()
    images = serializers.JSONField()


class BlindedSlotSerializer(serializers.Serializer):
    letter = serializers.CharField(help_text="A, B, C... in the order shown to the rater.")
    text = serializers.CharField(help_text=f'The response as the rater sees it ("{SILENT_TEXT}" when empty).')


class BlindedAssignmentSerializer(serializers.ModelSerializer):
    """A clinician's own assignment, blinded."""

    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    status = AssignmentStatusField(read_only=True)
    case = BlindedCaseSerializer(read_only=True)
    slots = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "study", "status", "created_at", "shown_at", "first_input_at", "last_activity_at",
                  "submitted_at", "case", "slots"]
        read_only_fields = fields

    @extend_schema_field(BlindedSlotSerializer(many=True))
    def get_slots(self, assignment: Assignment) -> list[dict]:
        texts = self.context.get("response_texts")
        if texts is None:
            texts = response_texts(assignment.slots)
        return [{"letter": slot_letter(i), "text": blind_text(texts.get(rid, ""))}
                for i, rid in enumerate(assignment.slots)]


class UnblindedSlotSerializer(serializers.Serializer):
    slot = serializers.IntegerField(read_only=True)
    letter = serializers.CharField(read_only=True)
    response = serializers.IntegerField(read_only=True)
    arm = serializers.IntegerField(read_only=True, allow_null=True)
    arm_name = serializers.CharField(read_only=True, allow_null=True)


class AssignmentSerializer(serializers.ModelSerializer):
    """Any assignment, unblinded (researchers and admins)."""

    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    case_external_id = serializers.CharField(source="case.external_id", read_only=True)
    rater = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = AssignmentStatusField(read_only=True)
    slots = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "study", "case", "case_external_id", "rater", "status", "square_row", "queue_position",
                  "created_at", "shown_at", "first_input_at", "last_activity_at", "submitted_at", "active_seconds",
                  "slots"]
        read_only_fields = fields

    @extend_schema_field(UnblindedSlotSerializer(many=True))
    def get_slots(self, assignment: Assignment) -> list[dict]:
        arms = self.context.get("response_arms")
        if arms is None:
            arms = response_arms(assignment.slots)
        return [{"slot": i, "letter": slot_letter(i), "response": rid,
                 "arm": arms.get(rid, (None, None))[0], "arm_name": arms.get(rid, (None, None))[1]}
                for i, rid in enumerate(assignment.slots)]
