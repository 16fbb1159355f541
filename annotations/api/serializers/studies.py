"""Serializers of studies, their arms, cases and responses (researchers and admins), and
the request that registers an arm."""

from __future__ import annotations

from rest_framework import serializers

from annotations.api.serializers.fields import (
    ArmMethodField,
    CategoryField,
    KnownKeysSerializer,
    SplitField,
    StudySlugField,
    StudyStatusField,
)
from annotations.models import Case, ModelArm, Response, Study, StudyAnalysis, StudyArm, bounds


class StudyArmSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="arm.id", read_only=True)
    name = serializers.CharField(source="arm.name", read_only=True)
    method = ArmMethodField(source="arm.method", read_only=True)

    class Meta:
        model = StudyArm
        fields = ["id", "name", "method", "position"]


class StudySerializer(serializers.ModelSerializer):
    status = StudyStatusField(read_only=True)
    arms = StudyArmSerializer(source="study_arms", many=True, read_only=True)

    class Meta:
        model = Study
        fields = ["id", "slug", "name", "status", "instructions", "rubric", "raters_per_item", "arms_per_screen", "seed",
                  "assignment_timeout_minutes", "extra_tasks", "arms", "created_at", "updated_at"]
        read_only_fields = fields


class StudyAnalysisSerializer(serializers.ModelSerializer):
    """A study's stored analysis: what its dashboard shows, computed after submissions or
    on demand (``result`` is null until then)."""

    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    stale = serializers.BooleanField(read_only=True, help_text="Submissions newer than the analysis: an update is "
                                                               "queued.")
    result = serializers.JSONField(read_only=True, help_text=(
        "meta, descriptives, paired_tests, judgments, preferences (pairs, win_matrix, bradley_terry and the "
        "style-controlled style_controlled), agreement, position_bias (the clinicians' ratings); automatic and automatic_comparison (the automatic metrics per arm); automatic_reading (what "
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
                  "api_key_env", "max_concurrency", "request_timeout_s", "max_retries", "uses_behavior_tokens",
                  "prompt_template", "decoding_params",
                  "checkpoint_hash", "description", "studies", "created_at"]
        read_only_fields = fields


class ResponseSerializer(serializers.ModelSerializer):
    study = serializers.CharField(source="case.study.slug", read_only=True)
    case_external_id = serializers.CharField(source="case.external_id", read_only=True)
    arm_name = serializers.CharField(source="arm.name", read_only=True)

    class Meta:
        model = Response
        fields = ["id", "study", "case", "case_external_id", "arm", "arm_name", "job", "text", "raw_text",
                  "predicted_behavior", "prompt_tokens", "completion_tokens", "finish_reason", "latency_s",
                  "provenance", "names_model", "created_at"]
        read_only_fields = fields


class ArmDecodingSerializer(KnownKeysSerializer):
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
    request_timeout_s = serializers.FloatField(
        required=False, allow_null=True, default=None, **bounds.ENDPOINT_TIMEOUT_S.limits,
        help_text="Seconds one request may take, waiting at the server included (null: EVALPORTAL_ENDPOINT_TIMEOUT_S).")
    max_retries = serializers.IntegerField(
        required=False, allow_null=True, default=None, **bounds.ENDPOINT_RETRIES.limits,
        help_text="Retries, with backoff, of a request that timed out, met a server error or could not connect "
                  "(null: EVALPORTAL_ENDPOINT_MAX_RETRIES).")
    uses_behavior_tokens = serializers.BooleanField(required=False, default=False)
    decoding_params = ArmDecodingSerializer(required=False, default=dict)
    description = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)
    studies = StudySlugField(many=True, required=False, default=list,
                             help_text="Slugs of studies to add it to.")
