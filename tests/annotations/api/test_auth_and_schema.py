"""Token and session authentication, CSRF, and the OpenAPI schema and docs."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

API_PATHS = [
    "/api/studies/", "/api/studies/{slug}/", "/api/cases/", "/api/cases/{id}/", "/api/arms/", "/api/arms/{id}/",
    "/api/responses/", "/api/responses/{id}/", "/api/ratings/", "/api/assignments/", "/api/assignments/{id}/",
    "/api/generation-jobs/", "/api/generation-jobs/{id}/", "/api/generation-jobs/{id}/cancel/",
    "/api/generation-jobs/{id}/retry/", "/api/training-jobs/", "/api/training-jobs/{id}/",
    "/api/training-jobs/{id}/cancel/", "/api/training-jobs/{id}/retry/", "/api/token/",
]


def test_obtain_a_token_and_use_it(world, researcher):
    anonymous = APIClient()
    response = anonymous.post("/api/token/", {"username": "res", "password": "pw-for-tests-123"}, format="json")
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=researcher).key == key
    # The same token again on a second request.
    assert anonymous.post("/api/token/", {"username": "res", "password": "pw-for-tests-123"}).json()["token"] == key

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = client.get("/api/studies/").json()
    assert [s["slug"] for s in body["results"]] == ["rated"]
    assert client.get("/api/schema/").status_code == 200


def test_wrong_password_gets_no_token(researcher):
    response = APIClient().post("/api/token/", {"username": "res", "password": "guess"}, format="json")
    assert response.status_code == 400 and "token" not in response.json()
    assert not Token.objects.exists()


def test_bad_or_missing_token_is_401(world):
    client = APIClient()
    response = client.get("/api/studies/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/studies/")
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."


def test_token_writes_need_no_csrf_but_session_writes_do(world, admin_user, clean_broker):
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(admin_user)
    refused = session.post(f"/api/training-jobs/{world.train_queued.pk}/cancel/")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]

    token = APIClient(enforce_csrf_checks=True)
    token.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin_user).key}")
    assert token.post(f"/api/training-jobs/{world.train_queued.pk}/cancel/").status_code == 200


def test_schema_generates_without_errors_or_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert set(API_PATHS) <= set(schema["paths"])
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])
    blinded = schema["components"]["schemas"]["BlindedAssignment"]["properties"]
    assert set(blinded) == {"id", "study", "status", "created_at", "shown_at", "first_input_at",
                            "last_activity_at", "submitted_at", "case", "slots"}
    assert "post" in schema["paths"]["/api/generation-jobs/"]
    assert "503" in schema["paths"]["/api/generation-jobs/"]["post"]["responses"]
    # A state conflict (a study no longer a draft, a job already finished) is documented
    # where it can happen, and only there.
    paths = schema["paths"]
    for path in ("/api/arms/", "/api/generation-jobs/", "/api/training-jobs/{id}/cancel/",
                 "/api/judge-jobs/{id}/retry/"):
        assert "409" in paths[path]["post"]["responses"], path
    assert "409" not in paths["/api/token/"]["post"]["responses"]
    assert "409" not in paths["/api/ratings/"]["get"]["responses"]
    rating = schema["components"]["schemas"]["Rating"]["properties"]
    assert {"automatic_intervention", "gen_seed", "case", "rater_id", "arm", "arm_name"} <= set(rating)


def test_schema_and_docs_are_served_to_researchers_and_admins(researcher_api, clinician_api):
    schema = researcher_api.get("/api/schema/?format=json")
    assert schema.status_code == 200 and "/api/ratings/" in schema.json()["paths"]
    assert clinician_api.get("/api/schema/").status_code == 403  # it names arms' methods and fields
    page = researcher_api.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and "swagger-ui" in html
    assert "<script>" not in html  # the init script is a separate request (strict CSP)
    assert "cdn" not in html.lower()  # assets from the sidecar package
    script = researcher_api.get("/api/docs/?script=")
    assert script.status_code == 200 and "/api/schema/" in script.content.decode()


def test_token_endpoint_is_login_throttled(researcher, settings):
    """django-axes counts failed token requests like failed logins: the limit-th failure
    locks them out, and from then on even the right password gets no token but a 429
    that says when to try again."""
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/api/token/", {"username": "res", "password": "guess"}).status_code == 400
    for password in ("guess", "pw-for-tests-123"):
        locked = client.post("/api/token/", {"username": "res", "password": password})
        assert locked.status_code == 429 and "token" not in locked.json() and int(locked["Retry-After"]) > 0
    assert not Token.objects.exists()
