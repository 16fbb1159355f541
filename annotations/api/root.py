"""The API's front door and its edge: ``/api/`` lists the endpoints and where their
documentation is (for researchers and admins, who may read the schema); an address under
``/api/`` that names no endpoint is a JSON 404, never an HTML page."""

from __future__ import annotations

from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response as ApiResponse
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from annotations.api import permissions
from annotations.api.views import AUTHENTICATION


class ApiRootView(APIView):
    """What the API offers: each endpoint's address, the documentation, the schema and
    the token endpoint."""

    authentication_classes = AUTHENTICATION
    permission_classes = [permissions.IsResearcherOrAdmin]
    renderer_classes = [JSONRenderer]
    endpoints: dict[str, str] = {}  # name -> URL name of its list, given by the URLconf

    @extend_schema(exclude=True)
    def get(self, request):
        def link(name: str) -> str:
            return reverse(name, request=request)

        return ApiResponse({
            "endpoints": {key: link(name) for key, name in self.endpoints.items()},
            "docs": link("api-docs"), "schema": link("api-schema"), "token": link("api-token"),
        })


def _names_an_endpoint(path: str) -> bool:
    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False


@csrf_exempt  # it writes nothing; without this, a POST here would get the CSRF page
def api_not_found(request, rest: str = ""):
    """No endpoint here: a JSON 404 (an address without its last slash is sent on to it
    for a read, as Django would, and named in the answer otherwise)."""
    slashed = f"{request.path}/"
    if not request.path.endswith("/") and _names_an_endpoint(f"{request.path_info}/"):
        if request.method in ("GET", "HEAD"):
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(slashed + (f"?{query}" if query else ""))
        return JsonResponse({"detail": f"No endpoint here; API addresses end with a slash: {slashed}"}, status=404)
    return JsonResponse({"detail": "No endpoint here; GET /api/ lists them."}, status=404)
