"""Serializers of the REST API. Output serializers are flat and read-only; the input
serializers (queue a generation, training or judge job) only validate, the views hand
the validated data to the job services.

Blinding: ``BlindedAssignmentSerializer`` is the only serializer a clinician ever gets.
It carries slot letters and blinded texts, never a response, arm or job id, arm or
model name, behavior token or gold label."""

from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.api.filters import IdField
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
from annotations.rating_input import slot_letter
from annotations.selectors.rating import blind_text
from modeling.behavior import SILENT_TEXT

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
        super().__init__(slug_field="slug", queryset=Study.objects.all(), **kwargs)

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


class RatingSerializer(serializers.ModelSerializer):
    """One row per rating (response x dimension of a submission), long format."""

    study = serializers.CharField(source="submission.assignment.study.slug", read_only=True)
    submission = serializers.IntegerField(source="submission_id", read_only=True)
    revision = serializers.IntegerField(source="submission.revision", read_only=True)
    is_current = serializers.BooleanField(source="submission.is_current", read_only=True)
    assignment = serializers.IntegerField(source="submission.assignment_id", read_only=True)
    case = serializers.IntegerField(source="submission.assignment.case_id", read_only=True)
    case_external_id = serializers.CharField(source="submission.assignment.case.external_id", read_only=True)
    rater = serializers.CharField(source="submission.assignment.rater.username", read_only=True, allow_null=True,
                                  help_text="The clinician the assignment belongs to.")
    submitted_by = serializers.CharField(source="submission.submitted_by.username", read_only=True,
                                         help_text="Who stored this revision (the rater, or whoever corrected it).")
    response = serializers.IntegerField(source="response_id", read_only=True)
    arm = serializers.IntegerField(source="response.arm_id", read_only=True)
    arm_name = serializers.CharField(source="response.arm.name", read_only=True)
    slot_letter = serializers.SerializerMethodField()
    comment = serializers.CharField(source="submission.comment", read_only=True)
    revision_reason = serializers.CharField(source="submission.reason", read_only=True)
    submitted_at = serializers.DateTimeField(source="submission.submitted_at", read_only=True)
    harm_decision = serializers.CharField(source="harm_decision.decision", read_only=True, allow_null=True,
                                          help_text="On a harm flag: the adjudication (confirmed, not_harmful, "
                                                    "unclear), or null while undecided.")
    harm_note = serializers.CharField(source="harm_decision.note", read_only=True, allow_null=True)
    harm_decided_by = serializers.CharField(source="harm_decision.decided_by.username", read_only=True,
                                            allow_null=True)
    harm_decided_at = serializers.DateTimeField(source="harm_decision.decided_at", read_only=True, allow_null=True)

    class Meta:
        model = Rating
        fields = ["id", "study", "submission", "revision", "is_current", "assignment", "case", "case_external_id",
                  "rater", "submitted_by", "response", "arm", "arm_name", "slot", "slot_letter", "dimension",
                  "score", "choice", "note", "comment", "revision_reason", "submitted_at", "harm_decision",
                  "harm_note", "harm_decided_by", "harm_decided_at"]
        read_only_fields = fields

    def get_slot_letter(self, rating: Rating) -> str:
        return slot_letter(rating.slot)


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
    study = StudySlugField(help_text="Study slug.")
    arm = IdField(queryset=ModelArm.objects.all(), help_text="Id of an arm of the study.")
    cases = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, allow_empty=False, max_length=MAX_LISTED_CASES,
        help_text="external_id of each case to generate for; default: every test case of the study.")
    max_new_tokens = serializers.IntegerField(required=False, **bounds.MAX_NEW_TOKENS.limits)
    seed = serializers.IntegerField(required=False, default=0, **bounds.SEED.limits)

    def validate(self, attrs):
        ids = attrs.get("cases")
        if ids is not None:
            wanted = list(dict.fromkeys(ids))
            found = {case.external_id: case for case in attrs["study"].cases.filter(external_id__in=wanted)}
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
    """Training options (``modeling.train.TrainConfig``); unset ones take the defaults."""

    unknown_message = "Unknown hyperparameter"

    epochs = serializers.FloatField(required=False, **bounds.EPOCHS.limits)
    steps = serializers.IntegerField(required=False, help_text="Optimizer steps; overrides epochs.",
                                     **bounds.STEPS.limits)
    learning_rate = serializers.FloatField(required=False, **bounds.LEARNING_RATE.limits)
    lora_r = serializers.IntegerField(required=False, **bounds.LORA_R.limits)
    lora_alpha = serializers.IntegerField(required=False, **bounds.LORA_ALPHA.limits)
    lora_dropout = serializers.FloatField(required=False, **bounds.LORA_DROPOUT.limits)
    token_lr = serializers.FloatField(required=False, **bounds.TOKEN_LR.limits)
    batch_size = serializers.IntegerField(required=False, **bounds.BATCH_SIZE.limits)
    grad_accum = serializers.IntegerField(required=False, **bounds.GRAD_ACCUM.limits)
    max_length = serializers.IntegerField(required=False, **bounds.MAX_LENGTH.limits)
    lr_schedule = serializers.ChoiceField(required=False, choices=["cosine", "constant"])
    warmup_ratio = serializers.FloatField(required=False, **bounds.RATIO.limits)
    weight_decay = serializers.FloatField(required=False, **bounds.RATIO.limits)
    max_grad_norm = serializers.FloatField(required=False, **bounds.MAX_GRAD_NORM.limits)
    gradient_checkpointing = serializers.BooleanField(required=False, allow_null=True)
    seed = serializers.IntegerField(required=False, **bounds.SEED.limits)


class QueueTrainingSerializer(serializers.Serializer):
    study = StudySlugField(help_text="Study slug.")
    method = TrainingMethodField()
    base_model = serializers.CharField(max_length=500, default="demo",
                                       help_text='"demo", a Hugging Face directory or a .gguf file on the GPU workers.')
    hyperparameters = HyperparametersSerializer(required=False)


class JudgeParamsSerializer(_KnownKeysSerializer):
    """How the judge is asked; unset ones take the defaults."""

    use_reference = serializers.BooleanField(required=False, help_text="Show the judge the reference response.")
    logprobs = serializers.ChoiceField(required=False, choices=["auto", "on", "off"],
                                       help_text="Endpoint only: score from top_logprobs (on), sample (off), or "
                                                 "whichever the endpoint offers (auto).")
    top_logprobs = serializers.IntegerField(required=False, **bounds.TOP_LOGPROBS.limits)
    n_samples = serializers.IntegerField(required=False, **bounds.JUDGE_SAMPLES.limits)
    temperature = serializers.FloatField(required=False, **bounds.TEMPERATURE.limits)
    concurrency = serializers.IntegerField(required=False, **bounds.JUDGE_CONCURRENCY.limits)
    pairwise_dimensions = serializers.ListField(child=serializers.CharField(max_length=40), required=False,
                                                allow_empty=False, max_length=20)

    def validate_logprobs(self, value):
        return {"auto": "auto", "on": True, "off": False}[value]


class QueueJudgeSerializer(serializers.Serializer):
    study = StudySlugField(help_text="Study slug.")
    kind = JudgeKindField(default=JudgeJob.Kind.LOCAL)
    model_ref = serializers.CharField(max_length=500, required=False, default="", allow_blank=True,
                                      help_text='Local: "demo", a Hugging Face directory or a .gguf file (default '
                                                "demo). Endpoint: the model name (default: JUDGE_OPENAI_MODEL).")
    adapter_path = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
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
            texts = dict(Response.objects.filter(pk__in=assignment.slots).values_list("pk", "text"))
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
            arms = {pk: (arm_id, name) for pk, arm_id, name in
                    Response.objects.filter(pk__in=assignment.slots).values_list("pk", "arm_id", "arm__name")}
        return [{"slot": i, "letter": slot_letter(i), "response": rid,
                 "arm": arms.get(rid, (None, None))[0], "arm_name": arms.get(rid, (None, None))[1]}
                for i, rid in enumerate(assignment.slots)]
