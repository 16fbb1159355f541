"""Ids in the API are whole numbers, strictly: `"arm": 1.5` queued a job for arm 1, since
Python reads 1.5, true, 1e3, " 1" or "+1" as an id too and names another object than
the one meant. Only a JSON integer or a string of digits is an id; anything else is a
clear 400 (or, in a path, 404) that changes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotations.models import Assignment, GenerationJob
from tests.factories import CaseFactory, ModelArmFactory, ResponseFactory, StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOT_IDS = [1.5, 1.0, 1e3, True, False, "1.5", "1.0", "1e3", "", " 1", "1 ", "+1", "-1", "0x1", "١", "1_0",
           [1], {"id": 1}, 0, -1, 2**63, str(2**63)]


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    client = APIClient()
    client.force_login(admin_user)
    return client


@pytest.fixture
def ids_study():
    """A study whose arms have ids 1 and 1000: what true, 1.0, " 1" or 1e3 would read as."""
    study = StudyFactory(slug="ids")
    arms = [StudyArmFactory(study=study, arm=ModelArmFactory(pk=pk)).arm for pk in (1, 1000)]
    for pk in (1, 2):
        ResponseFactory(pk=pk, case=CaseFactory(pk=pk, study=study, external_id=f"ids-{pk}"), arm=arms[0])
    return study


@pytest.mark.parametrize("value", NOT_IDS, ids=repr)
def test_a_job_for_an_arm_named_by_anything_but_an_id_is_refused(ids_study, admin_api, value):
    response = admin_api.post("/api/generation-jobs/", {"study": "ids", "arm": value}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["arm"]
    assert not GenerationJob.objects.exists()


def test_a_missing_or_null_arm_is_named(ids_study, admin_api):
    for payload in ({"study": "ids"}, {"study": "ids", "arm": None}):
        response = admin_api.post("/api/generation-jobs/", payload, format="json")
        assert response.status_code == 400 and list(response.json()) == ["arm"]
    assert not GenerationJob.objects.exists()


@pytest.mark.parametrize("value", ["id", "digits"])
def test_an_arm_named_by_its_id_queues_its_job(ids_study, admin_api, value):
    response = admin_api.post("/api/generation-jobs/", {"study": "ids", "arm": 1000 if value == "id" else "1000"},
                              format="json")
    assert response.status_code == 201, response.content
    assert GenerationJob.objects.get().arm_id == 1000


@pytest.mark.parametrize("value", ["1.0", "+1", " 1", "١", "1e3", "0x1"])
@pytest.mark.parametrize("path", ["/api/responses/?arm=", "/api/ratings/?assignment=", "/api/generation-jobs/?arm=",
                                  "/api/responses/?case="])
def test_an_id_filter_takes_digits_only(ids_study, admin_api, path, value):
    response = admin_api.get(path + value)
    name = path.split("?")[1].rstrip("=")
    assert response.status_code == 400 and name in response.json(), response.content


def test_an_id_filter_in_digits_filters(ids_study, admin_api):
    body = admin_api.get("/api/responses/?arm=1").json()
    assert body["count"] == 2 and {r["arm"] for r in body["results"]} == {1}


@pytest.mark.parametrize("path", ["cases", "arms", "responses", "generation-jobs"])
@pytest.mark.parametrize("value", ["+1", "%201", "1%20", "%D9%A1", str(2**63), "9" * 30])
def test_an_object_path_with_anything_but_an_id_is_not_found(ids_study, admin_api, path, value):
    GenerationJob.objects.create(pk=1, study=ids_study, arm_id=1)
    assert admin_api.get(f"/api/{path}/1/").status_code == 200  # the object is there
    response = admin_api.get(f"/api/{path}/{value}/")
    assert response.status_code == 404, (path, value, response.status_code)


def test_an_assignment_path_with_anything_but_an_id_is_not_found(ids_study, clinician, admin_api):
    case = ids_study.cases.get(pk=1)
    Assignment.objects.create(pk=1, study=ids_study, case=case, rater=clinician,
                              slots=list(case.responses.values_list("pk", flat=True)))
    assert admin_api.get("/api/assignments/1/").status_code == 200
    for value in ("+1", "%201", "%D9%A1", str(2**63)):
        assert admin_api.get(f"/api/assignments/{value}/").status_code == 404, value


@pytest.mark.parametrize("value", [v for v in NOT_IDS if isinstance(v, str | int)])
def test_the_selectors_read_ids_as_the_api_does(ids_study, value):
    """A page's id (a path, a choice) that is no id names nothing: NotFound, never another
    object (int() would read " 1" or "+1" as 1) and never a database error."""
    from annotations.errors import NotFound
    from annotations.selectors.judge import judge_job_get, judge_job_shown
    from annotations.selectors.rating import assignment_for_rater
    from annotations.selectors.studies import case_expected_form, study_rater_user
    from tests.factories import UserFactory

    rater = UserFactory(username="ids-rater", role="clinician")
    for read in (lambda: study_rater_user(value), lambda: case_expected_form(ids_study, value),
                 lambda: judge_job_get(ids_study, value),
                 lambda: assignment_for_rater(assignment_id=value, rater=rater)):
        with pytest.raises(NotFound):
            read()
    assert judge_job_shown(ids_study, str(value)) is None or str(value) == ""
