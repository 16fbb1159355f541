"""REST API views: thin viewsets. Reads are the selectors' querysets (with the joins a page needs);
writes (queue, cancel, retry a job) go through the job services; the errors they raise
become HTTP answers in :mod:`annotations.http_errors`.

Who gets what:
- researchers and admins read studies, cases, arms, responses, ratings and jobs
  (unblinded); only admins queue, cancel and retry jobs;
- a clinician reads only their own assignments, blinded, and only those the rating page
  would show them (``selectors.raters.rater_assignments``); nothing else (403);
- anonymous requests get 401 (``WWW-Authenticate: Token``).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response as ApiResponse
from rest_framework.settings import api_settings

from annotations.api import filters, permissions
from annotations.api.serializers.jobs import (
    GenerationJobSerializer,
    JudgeJobSerializer,
    QueueGenerationSerializer,
    QueueJudgeSerializer,
    QueueTrainingSerializer,
    TrainingJobSerializer,
)
from annotations.api.serializers.pairs import DpoPairSerializer, DpoRulesSerializer
from annotations.api.serializers.ratings import (
    AssignmentSerializer,
    BlindedAssignmentSerializer,
    RankingSerializer,
    RatingSerializer,
)
from annotations.api.serializers.studies import (
    CaseSerializer,
    ModelArmSerializer,
    RegisterArmSerializer,
    ResponseSerializer,
    StudyAnalysisSerializer,
    StudySerializer,
)
from annotations.errors import NotFound
from annotations.ids import strict_id
from annotations.job_kinds import JOB_KINDS, JobKind
from annotations.models import StudyAnalysis
from annotations.param_fields import param_serializer_values
from annotations.selectors.arms import arms_with_studies
from annotations.selectors.exports import rankings_for_team, ratings_ranked
from annotations.selectors.jobs import jobs_of_kind
from annotations.selectors.preference_pairs import DpoPairPages
from annotations.selectors.raters import rater_assignments
from annotations.selectors.readings import readings_of_ratings
from annotations.selectors.responses import response_arms, response_texts, responses_for_team
from annotations.selectors.studies import (
    assignments_for_team,
    cases_for_team,
    ratings_for_team,
    studies_with_arms,
    study_analysis,
)
from annotations.services.arms import arm_register
from annotations.services.generation import generation_job_queue
from annotations.services.jobs import job_cancel, job_retry
from annotations.services.judging import judge_job_queue
from annotations.services.training import training_job_queue
from annotations.services.users import user_token_revoke
from evalportal.roles import CLINICIAN, user_role
from modeling.params import DecodingParams

# Token first: an anonymous request then gets 401 with ``WWW-Authenticate: Token``
# (with session first DRF can only answer 403). Both are accepted either way.
AUTHENTICATION = (TokenAuthentication, SessionAuthentication)


class TokenView(ObtainAuthToken):
    """A token for a username and password (``POST username=... password=...``): 400 for
    wrong credentials, 429 with ``Retry-After`` while too many failed logins have them
    locked out (django-axes, as on the login page). ``DELETE`` revokes the caller's own
    token. A password set in any way revokes it too; logging out does not, so that
    scripts keep working."""

    authentication_classes = AUTHENTICATION
    # ObtainAuthToken names DRF's own parsers; the portal's JSON reader is the one to use.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    def get_permissions(self):
        # Anyone may ask for a token with a password; only its owner may revoke it.
        return [IsAuthenticated()] if self.request.method == "DELETE" else []

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            # django-axes marks the request it was given when it refused a locked-out login.
            if getattr(request, "axes_locked_out", False) or getattr(request._request, "axes_locked_out", False):
                raise Throttled(wait=round(float(settings.AXES_COOLOFF_TIME) * 3600),
                                detail="Too many failed logins for this username from this address.") from None
            raise

    @extend_schema(summary="Revoke your API token", request=None,
                   description="Deletes the token of whoever calls (by token or session); scripts that use it are "
                               "refused from then on. A new `POST` gives a new token. 204 also when there was none.",
                   responses={204: OpenApiResponse(description="Revoked; nothing is returned."),
                              401: OpenApiResponse(
                                  response={"type": "object", "properties": {"detail": {"type": "string"}}},
                                  description="No valid credentials: nothing to revoke.")})
    def delete(self, request, *args, **kwargs):
        user_token_revoke(user=request.user)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)


def _wants_input(view) -> bool:
    """Whether a view that creates on POST to its list route should use its input
    serializer: for the create itself, and for the form of that route (the browsable API
    and an OPTIONS answer both ask with a POST clone of the request). Everything else
    shows the objects."""
    posting_to_list = not view.detail and getattr(view.request, "method", "") == "POST"
    return view.action == "create" or posting_to_list


class _ApiViewSet(viewsets.GenericViewSet):
    authentication_classes = AUTHENTICATION

    def get_object(self):
        # Django would read "+1", " 1" or "1.0" as 1 and find object 1, and a number past
        # the database's range would fail there; an id is digits, in range, or nothing.
        if self.lookup_field == "pk" and strict_id(self.kwargs.get(self.lookup_url_kwarg or "pk")) is None:
            raise NotFound("Not found.")
        return super().get_object()


class _ReadOnly(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ApiViewSet):
    permission_classes = [permissions.IsResearcherOrAdmin]


@extend_schema_view(list=extend_schema(summary="Studies, each with its arms"),
                    retrieve=extend_schema(summary="One study, by slug"))
class StudyViewSet(_ReadOnly):
    serializer_class = StudySerializer
    filterset_class = filters.StudyFilter
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def get_queryset(self):
        return studies_with_arms()

    @extend_schema(summary="The study's stored analysis (the dashboard's statistics, the automatic metrics and "
                           "the automatic reading against the clinicians)",
                   responses={200: StudyAnalysisSerializer})
    @action(detail=True, methods=["get"], url_path="analysis")
    def analysis(self, request, slug=None):
        study = self.get_object()
        analysis = study_analysis(study) or StudyAnalysis(study=study)
        return ApiResponse(StudyAnalysisSerializer(analysis, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="The study's preference pairs for DPO, in TRL's conversational preference format",
        description="One row per kept (case, chosen, rejected) pair of the study's current submissions: `prompt`, "
                    "`chosen` and `rejected` as chat messages, and where the pair comes from. Ties, gold and "
                    "practice cases are never pairs; the chosen response is the one a strict majority of the raters "
                    "who compared the two preferred. Each page reads the study's rankings again: for a whole large "
                    "study, download the export from the study page.",
        parameters=[DpoRulesSerializer],
        responses={200: DpoPairSerializer(many=True),
                   400: OpenApiResponse(description="A rule out of its bounds; the message names it.")})
    @action(detail=True, methods=["get"], url_path="dpo-pairs", filter_backends=[])
    def dpo_pairs(self, request, slug=None):
        study = self.get_object()
        query = DpoRulesSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(DpoPairPages(study, rules=query.rules()))
        return self.get_paginated_response(DpoPairSerializer(page, many=True).data)


@extend_schema_view(list=extend_schema(summary="Cases (unblinded: gold behavior and label included)"),
                    retrieve=extend_schema(summary="One case"))
class CaseViewSet(_ReadOnly):
    serializer_class = CaseSerializer
    filterset_class = filters.CaseFilter

    def get_queryset(self):
        return cases_for_team()


@extend_schema_view(
    list=extend_schema(summary="Model arms"), retrieve=extend_schema(summary="One model arm"),
    create=extend_schema(summary="Register an arm (admins): a local model, or an OpenAI-compatible endpoint",
                         request=RegisterArmSerializer,
                         responses={201: ModelArmSerializer,
                                    400: OpenApiResponse(description="Invalid fields; nothing was created."),
                                    409: OpenApiResponse(description="A named study is no longer a draft: its "
                                                                     "arms are fixed. Nothing was created."),
                                    403: OpenApiResponse(description="Only admins register arms.")}))
class ArmViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ApiViewSet):
    permission_classes = [permissions.ResearcherReadsAdminWrites]
    filterset_class = filters.ArmFilter
    def get_queryset(self):
        return arms_with_studies()

    def get_serializer_class(self):
        return RegisterArmSerializer if _wants_input(self) else ModelArmSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        arm = arm_register(actor=request.user, **serializer.validated_data)
        return ApiResponse(ModelArmSerializer(arm, context=self.get_serializer_context()).data,
                           status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(summary="Generated responses (unblinded, with provenance)"),
                    retrieve=extend_schema(summary="One response"))
class ResponseViewSet(_ReadOnly):
    serializer_class = ResponseSerializer
    filterset_class = filters.ResponseFilter

    def get_queryset(self):
        return responses_for_team()


@extend_schema_view(list=extend_schema(
    summary="Ratings in long format (one row per response x dimension of a submission)",
    description="Current revisions only; `revisions=all` adds superseded revisions (is_current false)."))
class RatingViewSet(mixins.ListModelMixin, _ApiViewSet):
    permission_classes = [permissions.IsResearcherOrAdmin]
    serializer_class = RatingSerializer
    filterset_class = filters.RatingFilter

    def get_queryset(self):
        return ratings_ranked(ratings_for_team())

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        # The automatic readings of the page's responses, read once for the page.
        context = {**self.get_serializer_context(), "readings": readings_of_ratings(page)}
        return self.get_paginated_response(self.get_serializer_class()(page, many=True, context=context).data)


@extend_schema_view(list=extend_schema(
    summary="Rankings (one row per response of a submission, with the rank it was given)",
    description="Current revisions only; `revisions=all` adds superseded revisions (is_current false)."))
class RankingViewSet(RatingViewSet):
    serializer_class = RankingSerializer
    filterset_class = filters.RankingFilter

    def get_queryset(self):
        return rankings_for_team()


# --- assignments --------------------------------------------------------------------------

_ASSIGNMENT_RESPONSE = PolymorphicProxySerializer(
    component_name="AssignmentForRole",
    serializers=[BlindedAssignmentSerializer, AssignmentSerializer],
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
        if getattr(self, "swagger_fake_view", False):
            return assignments_for_team().none()
        # A clinician sees what the rating pages would show them, and nothing more.
        return rater_assignments(self.request.user) if self._blinded() else assignments_for_team()

    def get_serializer_class(self):
        if not getattr(self, "swagger_fake_view", False) and self._blinded():
            return BlindedAssignmentSerializer
        return AssignmentSerializer

    def _slot_context(self, assignments) -> dict:
        """One query for the responses of every slot on the page (not one per assignment)."""
        ids = {rid for a in assignments for rid in a.slots}
        if self._blinded():
            return {"response_texts": response_texts(ids)}
        return {"response_arms": response_arms(ids)}

    def _serialize(self, assignments, many: bool):
        context = {**self.get_serializer_context(), **self._slot_context(assignments)}
        return self.get_serializer_class()(assignments if many else assignments[0], many=many, context=context).data

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._serialize(page, many=True))

    def retrieve(self, request, *args, **kwargs):
        return ApiResponse(self._serialize([self.get_object()], many=False))


# --- jobs ---------------------------------------------------------------------------------

class _JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _ApiViewSet):
    """Jobs of one kind (:mod:`annotations.job_kinds`): list, read, queue (admins), and
    cancel or retry (admins) through the services every kind shares."""

    permission_classes = [permissions.ResearcherReadsAdminWrites]
    kind: JobKind
    read_serializer: type
    queue_serializer: type

    def get_queryset(self):
        return jobs_of_kind(self.kind)

    def get_serializer_class(self):
        return self.queue_serializer if _wants_input(self) else self.read_serializer

    def _params(self) -> dict:
        serializer = self.get_serializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _shown(self, job, status_code=status.HTTP_200_OK):
        return ApiResponse(self.read_serializer(job, context=self.get_serializer_context()).data, status=status_code)

    def queue(self, data: dict):
        raise NotImplementedError

    def create(self, request, *args, **kwargs):
        return self._shown(self.queue(self._params()), status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        job_cancel(job=job, actor=request.user)  # refreshes ``job``
        return self._shown(job)

    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = self.get_object()
        job_retry(job=job, actor=request.user)
        return self._shown(job)


def _job_schema(kind: JobKind, read, queue):
    errors = {
        400: OpenApiResponse(description="Invalid input, or the service refused (e.g. the arm is not in the study)."),
        403: OpenApiResponse(description="Only admins queue, cancel and retry jobs."),
        409: OpenApiResponse(description="The job (or its study) is not in a state that allows it: cancel a "
                                         "finished job, retry one that is not failed or cancelled. Nothing changed."),
        503: OpenApiResponse(description="The task queue (Redis) cannot be reached; nothing was queued."),
    }
    label = kind.label.lower()
    return extend_schema_view(
        list=extend_schema(summary=f"{kind.label} jobs"),
        retrieve=extend_schema(summary=f"One {label} job"),
        create=extend_schema(summary=f"Queue a {label} job (admins)", request=queue, responses={201: read, **errors}),
        cancel=extend_schema(request=None, summary="Cancel a queued or running job (admins)",
                             description="A queued job stops at once; a running one between chunks, keeping what "
                                         "it wrote.", responses={200: read, **errors}),
        retry=extend_schema(request=None, summary="Queue a failed or cancelled job again (admins)",
                            description="It resumes where it stopped.", responses={200: read, **errors}),
    )


@_job_schema(JOB_KINDS["generation"], GenerationJobSerializer, QueueGenerationSerializer)
class GenerationJobViewSet(_JobViewSet):
    kind = JOB_KINDS["generation"]
    read_serializer = GenerationJobSerializer
    queue_serializer = QueueGenerationSerializer
    filterset_class = filters.GenerationJobFilter

    def queue(self, data: dict):
        return generation_job_queue(study=data["study"], arm=data["arm"], cases=data.get("cases"),
                                    only_missing=data["only_missing"], actor=self.request.user,
                                    decoding_params=param_serializer_values(data, DecodingParams),
                                    seed=data.get("seed"))


@_job_schema(JOB_KINDS["training"], TrainingJobSerializer, QueueTrainingSerializer)
class TrainingJobViewSet(_JobViewSet):
    kind = JOB_KINDS["training"]
    read_serializer = TrainingJobSerializer
    queue_serializer = QueueTrainingSerializer
    filterset_class = filters.TrainingJobFilter

    def queue(self, data: dict):
        return training_job_queue(study=data["study"], method=data["method"], base_model=data["base_model"],
                                  actor=self.request.user, hyperparameters=dict(data.get("hyperparameters") or {}))


@_job_schema(JOB_KINDS["judge"], JudgeJobSerializer, QueueJudgeSerializer)
class JudgeJobViewSet(_JobViewSet):
    kind = JOB_KINDS["judge"]
    read_serializer = JudgeJobSerializer
    queue_serializer = QueueJudgeSerializer
    filterset_class = filters.JudgeJobFilter

    def queue(self, data: dict):
        return judge_job_queue(study=data["study"], kind=data["kind"], model_ref=data["model_ref"],
                               adapter_path=data["adapter_path"], base_url=data["base_url"],
                               dimensions=data.get("dimensions"), pairwise=data["pairwise"], planted=data["planted"],
                               arms=data.get("arms"), responses=data.get("responses"),
                               params=dict(data.get("params") or {}), actor=self.request.user)
