"""Serializers of jobs (generation, training, judge) and of the requests that queue them:
the input serializers only validate, the views hand the validated data to the job
services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.api.filters import ID_RULE, IdField
from annotations.api.serializers.fields import (
    JobStatusField,
    JudgeKindField,
    KnownKeysSerializer,
    StudySlugField,
    TrainingMethodField,
)
from annotations.forms import BASE_MODEL_HELP, JUDGE_MODEL_HELP
from annotations.ids import strict_id
from annotations.models import GenerationJob, JudgeJob, TrainingJob
from annotations.models.jobs import MAX_LISTED_CASES
from annotations.param_fields import param_serializer_fields
from annotations.selectors.arms import all_arms
from annotations.selectors.job_queues import OTHER_STUDY_JOB, job_queue_place
from annotations.selectors.responses import generation_unanswered
from annotations.selectors.studies import study_cases_by_external_id
from modeling.params import GenerationParams, JudgeParams, TrainParams

_JOB_FIELDS = ["id", "study", "status", "progress_done", "progress_total", "progress_percent", "tokens_per_s",
               "eta_s", "celery_task_id", "cancel_requested", "error", "worker_host", "device_name", "attempts",
               "created_by", "created_at", "started_at", "finished_at", "queue_place"]


class JobAheadSerializer(serializers.Serializer):
    name = serializers.CharField(allow_null=True, read_only=True,
                                 help_text=f"Kind and summary; null for {OTHER_STUDY_JOB}.")
    study = serializers.CharField(allow_null=True, read_only=True,
                                  help_text="Its study's name, where that is another study.")
    status = JobStatusField(read_only=True)
    percent = serializers.FloatField(allow_null=True, read_only=True, help_text="How far a running job has got.")
    worker_lost = serializers.BooleanField(read_only=True)


class QueuePlaceSerializer(serializers.Serializer):
    """A queued job's place on its queue, from the job rows of every study in creation
    order (the jobs page shows ``text`` and ``idle_text``)."""

    queue = serializers.CharField(read_only=True)
    position = serializers.IntegerField(read_only=True, help_text="1: taken next.")
    ahead = JobAheadSerializer(many=True, read_only=True, help_text="What runs on the queue, then what was queued before it.")
    ahead_more = serializers.IntegerField(read_only=True, help_text="Jobs ahead not listed in ahead.")
    idle_minutes = serializers.IntegerField(
        allow_null=True, read_only=True, help_text="Set when no worker has run a job from the queue for this long while it waited.")
    text = serializers.CharField(read_only=True)
    idle_text = serializers.CharField(read_only=True)


class _JobSerializer(serializers.ModelSerializer):
    status = JobStatusField(read_only=True)
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    progress_percent = serializers.FloatField(read_only=True)
    queue_place = serializers.SerializerMethodField(help_text="Queued jobs only: where it stands on its queue.")

    @extend_schema_field(QueuePlaceSerializer(allow_null=True))
    def get_queue_place(self, job) -> dict | None:
        request = self.context.get("request")
        place = job_queue_place(job, viewer=getattr(request, "user", None), cache=self.context)
        return QueuePlaceSerializer(place).data if place else None


class UnansweredSerializer(serializers.Serializer):
    count = serializers.IntegerField(read_only=True)
    first_case = serializers.CharField(read_only=True, help_text="The first such case's external id.")
    first_message = serializers.CharField(read_only=True, help_text="What its failure means.")


class GenerationJobSerializer(_JobSerializer):
    arm_name = serializers.CharField(source="arm.name", read_only=True)
    unanswered = serializers.SerializerMethodField(
        help_text="The cases the server refused for good (a prompt longer than the model's context, another 400): "
                  "stored, not asked again by a retry; null when there are none.")

    class Meta:
        model = GenerationJob
        fields = _JOB_FIELDS[:3] + ["arm", "arm_name", "decoding_params", "seed", "unanswered"] + _JOB_FIELDS[3:]
        read_only_fields = fields

    @extend_schema_field(UnansweredSerializer(allow_null=True))
    def get_unanswered(self, job) -> dict | None:
        if "unanswered" not in self.context:  # read once for the whole list being serialized
            listed = getattr(self.parent, "instance", None)
            jobs = list(listed) if isinstance(self.parent, serializers.ListSerializer) and listed is not None else [job]
            self.context["unanswered"] = generation_unanswered([j.pk for j in jobs])
        unanswered = self.context["unanswered"].get(job.pk)
        return UnansweredSerializer(unanswered).data if unanswered else None


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
                                     "planted", "params", "selection", "response_count", "judge_provenance",
                                     "analysis", "analysed_at"]
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


class HyperparametersSerializer(KnownKeysSerializer):
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


class JudgeParamsSerializer(KnownKeysSerializer):
    """How the judge is asked (``modeling.params.JudgeParams``); unset ones take the defaults."""

    unknown_message = "Unknown judge parameter"

    def get_fields(self):
        return {**super().get_fields(), **param_serializer_fields(JudgeParams)}


class _ResponseIdField(serializers.IntegerField):
    """A response's id, strictly (:func:`~annotations.ids.strict_id`); whether the study
    has it is the service's check, over the whole list at once."""

    default_error_messages = {"not_an_id": f"Not an id: {ID_RULE}."}

    def to_internal_value(self, data):
        pk = strict_id(data)
        if pk is None:
            self.fail("not_an_id")
        return pk


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
    arms = serializers.ListField(
        child=IdField(queryset=all_arms()), required=False, allow_empty=False, max_length=26,
        help_text="Ids of the study's arms whose responses to judge (the newest of each to each test case); "
                  "default: every arm of the study.")
    responses = serializers.ListField(
        child=_ResponseIdField(), required=False, allow_empty=False, max_length=MAX_LISTED_CASES,
        help_text="Ids of the responses to judge (of the chosen arms); default: every response the arms' "
                  "selection covers.")
    pairwise = serializers.BooleanField(default=False)
    planted = serializers.BooleanField(
        default=False, help_text="Also read whether each response to a case with a planted problem names it "
                                 "(stored per response; the dashboard can score the automatic metrics with it).")
    params = JudgeParamsSerializer(required=False)

    def validate(self, attrs):
        if attrs.get("dimensions") == [] and not attrs.get("planted"):
            raise serializers.ValidationError({"dimensions": ["Name at least one dimension, or set planted."]})
        return attrs
