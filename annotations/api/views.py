"""REST API views: thin viewsets. Reads are querysets (with the joins a page needs);
writes (queue, cancel, retry a job) go through ``annotations.services.jobs``.

Who gets what:
- researchers and admins read studies, cases, arms, responses, ratings and jobs
  (unblinded); only admins queue, cancel and retry jobs;
- a clinician reads only their own assignments, blinded, and nothing else (403);
- anonymous requests get 401 (``WWW-Authenticate: Token``).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db.models import Prefetch
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response as ApiResponse

from annotations.api import filters, permissions, serializers
from annotations.models import (
    Assignment,
    Case,
    GenerationJob,
    ModelArm,
    Rating,
    Response,
    Study,
    StudyArm,
    TrainingJob,
)
from annotations.services import jobs as job_services
from evalportal.roles import CLINICIAN, user_role

# Token first: an anonymous request then gets 401 with ``WWW-Authenticate: Token``
# (with session first DRF can only answer 403). Both are accepted either way.
AUTHENTICATION = (TokenAuthentication, SessionAuthentication)


class QueueUnavailableError(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "queue_unavailable"
    default_detail = "The task queue cannot be reached; nothing was queued."


@contextmanager
def _service_errors():
    """The job services' refusals as HTTP answers: an unreachable queue is 503 (and the
    service has left nothing behind), a refused state change or bad request 400."""
    try:
        yield
    except job_services.QueueUnavailable as exc:
        raise QueueUnavailableError(str(exc)) from exc
    except job_services.JobStateError as exc:
        raise ValidationError({"detail": str(exc)}, code="job_state") from exc


class _ApiViewSet(viewsets.GenericViewSet):
    authentication_classes = AUTHENTICATION


class _ReadOnly(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ApiViewSet):
    permission_classes = [permissions.IsResearcherOrAdmin]


@extend_schema_view(list=extend_schema(summary="Studies, each with its arms"),
                    retrieve=extend_schema(summary="One study, by slug"))
class StudyViewSet(_ReadOnly):
    serializer_class = serializers.StudySerializer
    filterset_class = filters.StudyFilter
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    queryset = Study.objects.prefetch_related(
        Prefetch("study_arms", queryset=StudyArm.objects.select_related("arm").order_by("position", "id"))
    ).order_by("-created_at", "-id")


@extend_schema_view(list=extend_schema(summary="Cases (unblinded: gold behavior and label included)"),
                    retrieve=extend_schema(summary="One case"))
class CaseViewSet(_ReadOnly):
    serializer_class = serializers.CaseSerializer
    filterset_class = filters.CaseFilter
    queryset = Case.objects.select_related("study").order_by("id")


@extend_schema_view(list=extend_schema(summary="Model arms"), retrieve=extend_schema(summary="One model arm"))
class ArmViewSet(_ReadOnly):
    serializer_class = serializers.ModelArmSerializer
    filterset_class = filters.ArmFilter
    queryset = ModelArm.objects.prefetch_related("studies").order_by("id")


@extend_schema_view(list=extend_schema(summary="Generated responses (unblinded, with provenance)"),
                    retrieve=extend_schema(summary="One response"))
class ResponseViewSet(_ReadOnly):
    serializer_class = serializers.ResponseSerializer
    filterset_class = filters.ResponseFilter
    queryset = Response.objects.select_related("case__study", "arm").order_by("id")


@extend_schema_view(list=extend_schema(
    summary="Ratings in long format (one row per response x dimension of a submission)",
    description="Current revisions only; `revisions=all` adds superseded revisions (is_current false)."))
class RatingViewSet(mixins.ListModelMixin, _ApiViewSet):
    permission_classes = [permissions.IsResearcherOrAdmin]
    serializer_class = serializers.RatingSerializer
    filterset_class = filters.RatingFilter
    queryset = Rating.objects.select_related(
        "submission__assignment__study", "submission__assignment__case", "submission__assignment__rater",
        "submission__submitted_by", "response__arm",
    ).order_by("id")


# --- assignments --------------------------------------------------------------------------

_ASSIGNMENT_RESPONSE = PolymorphicProxySerializer(
    component_name="AssignmentForRole",
    serializers=[serializers.BlindedAssignmentSerializer, serializers.AssignmentSerializer],
    resource_type_field_name=None,
)


@extend_schema_view(
    list=extend_schema(
        summary="Assignments: a clinician's own (blinded); every assignment for researchers and admins",
        responses=_ASSIGNMENT_RESPONSE),
    retrieve=extend_schema(
        summary="One assignment (404 for a clinician unless it is theirs)",
        responses=_ASSIGNMENT_RESPONSE),
)
class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ApiViewSet):
    permission_classes = [permissions.HasRole]
    filterset_class = filters.AssignmentFilter

    def _blinded(self) -> bool:
        return user_role(self.request.user) == CLINICIAN

    def get_queryset(self):
        queryset = Assignment.objects.select_related("study", "case", "rater")
        if getattr(self, "swagger_fake_view", False):
            return queryset.none()
        if self._blinded():
            queryset = queryset.filter(rater=self.request.user)
        return queryset.order_by("study_id", "queue_position", "id")

    def get_serializer_class(self):
        if not getattr(self, "swagger_fake_view", False) and self._blinded():
            return serializers.BlindedAssignmentSerializer
        return serializers.AssignmentSerializer

    def _slot_context(self, assignments) -> dict:
        """One query for the responses of every slot on the page (not one per assignment)."""
        ids = {rid for a in assignments for rid in a.slots}
        responses = Response.objects.filter(pk__in=ids)
        if self._blinded():
            return {"response_texts": dict(responses.values_list("pk", "text"))}
        return {"response_arms": {pk: (arm_id, name) for pk, arm_id, name in
                                  responses.values_list("pk", "arm_id", "arm__name")}}

    def _serialize(self, assignments, many: bool):
        context = {**self.get_serializer_context(), **self._slot_context(assignments)}
        return self.get_serializer_class()(assignments if many else assignments[0], many=many, context=context).data

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._serialize(page, many=True))

    def retrieve(self, request, *args, **kwargs):
        return ApiResponse(self._serialize([self.get_object()], many=False))


# --- jobs ---------------------------------------------------------------------------------

_QUEUE_ERRORS = {
    400: OpenApiResponse(description="Invalid input, or the service refused (e.g. the arm is not in the study)."),
    403: OpenApiResponse(description="Only admins queue, cancel and retry jobs."),
    503: OpenApiResponse(description="The task queue (Redis) cannot be reached; nothing was queued."),
}


class _JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ApiViewSet):
    permission_classes = [permissions.ResearcherReadsAdminWrites]
    read_serializer: type
    queue_serializer: type

    def get_serializer_class(self):
        # A POST to the list route queues a job: its form (in the browsable API and in an
        # OPTIONS answer, which both ask with a POST clone of the request) takes the queue
        # parameters. Everything else shows jobs.
        posting_to_list = not self.detail and getattr(self.request, "method", "") == "POST"
        return self.queue_serializer if self.action == "create" or posting_to_list else self.read_serializer

    def _params(self) -> dict:
        serializer = self.get_serializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _queued(self, queue):
        with _service_errors():
            job = queue()
        return ApiResponse(self.read_serializer(job, context=self.get_serializer_context()).data,
                           status=status.HTTP_201_CREATED)

    def _act(self, service):
        job = self.get_object()
        with _service_errors():
            service(job=job, actor=self.request.user)  # refreshes ``job``
        return ApiResponse(self.read_serializer(job, context=self.get_serializer_context()).data)


_ACTION_SCHEMA = {
    "cancel": dict(request=None, summary="Cancel a queued or running job (admins)",
                   description="A queued job stops at once; a running one between chunks, keeping what it wrote."),
    "retry": dict(request=None, summary="Queue a failed or cancelled job again (admins)",
                  description="It resumes where it stopped."),
}


@extend_schema_view(
    list=extend_schema(summary="Generation jobs"),
    retrieve=extend_schema(summary="One generation job"),
    create=extend_schema(summary="Queue a generation job (admins)", request=serializers.QueueGenerationSerializer,
                         responses={201: serializers.GenerationJobSerializer, **_QUEUE_ERRORS}),
    cancel=extend_schema(**_ACTION_SCHEMA["cancel"], responses={200: serializers.GenerationJobSerializer,
                                                                **_QUEUE_ERRORS}),
    retry=extend_schema(**_ACTION_SCHEMA["retry"], responses={200: serializers.GenerationJobSerializer,
                                                              **_QUEUE_ERRORS}),
)
class GenerationJobViewSet(_JobViewSet):
    read_serializer = serializers.GenerationJobSerializer
    queue_serializer = serializers.QueueGenerationSerializer
    filterset_class = filters.GenerationJobFilter
    queryset = GenerationJob.objects.select_related("study", "arm", "created_by").order_by("-created_at", "-id")

    def create(self, request, *args, **kwargs):
        data = self._params()
        decoding = {"max_new_tokens": data["max_new_tokens"]} if "max_new_tokens" in data else None
        return self._queued(lambda: job_services.job_queue_generation(
            study=data["study"], arm=data["arm"], cases=data.get("cases"), actor=request.user,
            decoding_params=decoding, seed=data["seed"]))

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(job_services.job_cancel)

    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._act(job_services.job_retry)


@extend_schema_view(
    list=extend_schema(summary="Training jobs"),
    retrieve=extend_schema(summary="One training job"),
    create=extend_schema(summary="Queue a LoRA training job (admins)", request=serializers.QueueTrainingSerializer,
                         responses={201: serializers.TrainingJobSerializer, **_QUEUE_ERRORS}),
    cancel=extend_schema(**_ACTION_SCHEMA["cancel"], responses={200: serializers.TrainingJobSerializer,
                                                                **_QUEUE_ERRORS}),
    retry=extend_schema(**_ACTION_SCHEMA["retry"], responses={200: serializers.TrainingJobSerializer,
                                                              **_QUEUE_ERRORS}),
)
class TrainingJobViewSet(_JobViewSet):
    read_serializer = serializers.TrainingJobSerializer
    queue_serializer = serializers.QueueTrainingSerializer
    filterset_class = filters.TrainingJobFilter
    queryset = TrainingJob.objects.select_related("study", "created_by").order_by("-created_at", "-id")

    def create(self, request, *args, **kwargs):
        data = self._params()
        return self._queued(lambda: job_services.job_queue_training(
            study=data["study"], method=data["method"], base_model=data["base_model"], actor=request.user,
            hyperparameters=dict(data.get("hyperparameters") or {})))

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(job_services.job_cancel)

    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._act(job_services.job_retry)

