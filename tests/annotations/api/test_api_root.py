"""``/api/`` answers what the API offers, and any address under it that names no endpoint
a JSON 404: never an HTML page (Django's debug page included)."""

import pytest
from django.test import override_settings

from annotations.api.urls import router

pytestmark = pytest.mark.django_db


def test_the_root_lists_every_endpoint_and_the_docs(api_client_for):
    response = api_client_for("researcher").get("/api/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["docs"] == "http://testserver/api/docs/" and body["schema"] == "http://testserver/api/schema/"
    assert body["endpoints"]["studies"] == "http://testserver/api/studies/"
    assert set(body["endpoints"]) == {prefix for prefix, _, _ in router.registry}
    assert {"studies", "cases", "arms", "responses", "ratings", "assignments", "generation-jobs", "training-jobs",
            "judge-jobs"} <= set(body["endpoints"])
    for address in body["endpoints"].values():
        assert api_client_for("researcher").get(address).status_code == 200, address


@pytest.mark.parametrize(("role", "status"), [("anonymous", 401), ("clinician", 403)])
def test_the_root_is_a_json_refusal_for_other_roles(api_client_for, role, status):
    response = api_client_for(role).get("/api/")
    assert response.status_code == status and "detail" in response.json()


@override_settings(DEBUG=True)
@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("role", ["anonymous", "clinician", "researcher"])
def test_an_unknown_address_is_a_json_404(api_client_for, role, method):
    response = getattr(api_client_for(role), method)("/api/no-such-endpoint/deeper/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "No endpoint here; GET /api/ lists them."}


@override_settings(DEBUG=True)
def test_an_address_without_its_last_slash_is_sent_on_or_named(api_client_for):
    client = api_client_for("researcher")
    redirected = client.get("/api/studies?status=open")
    assert redirected.status_code == 301 and redirected["Location"] == "/api/studies/?status=open"
    posted = client.post("/api/studies")
    assert posted.status_code == 404 and "/api/studies/" in posted.json()["detail"]
    assert client.get("/api/nothing").status_code == 404


def test_the_studies_page_links_the_api_and_its_docs(researcher_client):
    body = researcher_client.get("/studies/").content.decode()
    assert '<a href="/api/docs/">its documentation</a>' in body and '<a href="/api/">/api/</a>' in body
