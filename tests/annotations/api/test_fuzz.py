"""Schemathesis over every operation of the API's own OpenAPI schema, as each role: no
input reaches a server error, and every answer has a status the schema documents."""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from evalportal.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("clean_broker")]

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes database connections when a request ends; Django's own test
    client turns that off, and so must a test that calls the WSGI app directly, or the
    test's transaction goes with the first request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def role_headers(world, clinician, researcher, admin_user) -> dict[str, dict]:
    """Request headers per role, with the world's objects in the database (so ids the
    fuzzer tries can exist)."""
    from rest_framework.authtoken.models import Token

    users = {"clinician": clinician, "researcher": researcher, "admin": admin_user}
    return {"anonymous": {}, **{role: {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}
                                for role, user in users.items()}}


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_reaches_a_server_error(case, role_headers):
    for headers in role_headers.values():
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance], headers=headers)
