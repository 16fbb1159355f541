"""On PostgreSQL the portal binds parameters on the server, so psycopg prepares the queries
a connection runs again and again (the rating page's among them) and PostgreSQL stops
planning them on every request. A pooler in transaction mode needs them off."""

import pytest
from django.db import connection

from annotations.services.planner import assignments_plan
from evalportal.roles import CLINICIAN
from tests.evalportal.test_security import _settings_in_subprocess
from tests.factories import UserFactory

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/evalportal"


@pytest.mark.postgres
@pytest.mark.django_db
def test_rating_page_reloads_run_prepared_statements(rated_study, clinician, clinician_client):
    assignments_plan(study=rated_study, raters=[clinician, UserFactory(username="other", role=CLINICIAN)])
    url = clinician_client.get("/rate/next/")["Location"]
    for _ in range(4):
        assert clinician_client.get(url).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    for table in ("django_session", "auth_user", "annotations_assignment", "annotations_case",
                  "annotations_response"):
        assert any(f'"{table}"' in statement for statement in prepared), table


@pytest.mark.parametrize(("setting", "expected"), [(None, "True 3"), ("0", "None None")])
def test_prepared_statements_are_on_unless_turned_off(setting, expected):
    env = {"DJANGO_SECRET_KEY": "s3cret-for-this-test", "DATABASE_URL": POSTGRES_URL}
    if setting is not None:
        env["DATABASE_PREPARED_STATEMENTS"] = setting
    options = 'settings.DATABASES["default"].get("OPTIONS", {})'
    result = _settings_in_subprocess(env, f'{options}.get("server_side_binding"), {options}.get("prepare_threshold")')
    assert result.stdout.strip() == expected, result.stderr

