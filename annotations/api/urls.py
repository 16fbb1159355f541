"""REST API routes under /api/. Router names live in the ``api`` namespace
(``api:study-list``...) so they never shadow the pages' own URL names; the schema and
docs keep their global names (``api-schema``, ``api-docs``)."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from annotations.api import permissions, views
from annotations.api.root import ApiRootView, api_not_found

router = SimpleRouter()
router.register("studies", views.StudyViewSet, basename="study")
router.register("cases", views.CaseViewSet, basename="case")
router.register("arms", views.ArmViewSet, basename="arm")
router.register("responses", views.ResponseViewSet, basename="response")
router.register("ratings", views.RatingViewSet, basename="rating")
router.register("rankings", views.RankingViewSet, basename="ranking")
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("generation-jobs", views.GenerationJobViewSet, basename="generation-job")
router.register("training-jobs", views.TrainingJobViewSet, basename="training-job")
router.register("judge-jobs", views.JudgeJobViewSet, basename="judge-job")


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, for researchers and admins only: it names the arms' methods and
    fields a clinician must not see."""

    authentication_classes = views.AUTHENTICATION
    permission_classes = [permissions.IsResearcherOrAdmin]


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI (assets from the sidecar package; its script is a separate request,
    so the page needs no inline script), for researchers and admins. Anonymous visitors
    are sent to the login page."""

    permission_classes = [permissions.IsResearcherOrAdmin]


urlpatterns = [
    path("", ApiRootView.as_view(endpoints={prefix: f"api:{basename}-list" for prefix, _, basename in router.registry}),
         name="api-root"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", login_required(DocsView.as_view(url_name="api-schema")), name="api-docs"),
    path("token/", views.TokenView.as_view(), name="api-token"),
    path("", include((router.urls, "api"))),
    re_path(r"^(?P<rest>.*)$", api_not_found, name="api-not-found"),  # last: whatever names no endpoint
]
