"""The rating page costs a constant number of SQL queries, not one per response or dimension."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotations.services.planner import assignments_plan
from evalportal.roles import CLINICIAN
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]
# session, user with role, the assignment, then its case, study, response texts and the
# rater's progress in one
MAX_QUERIES = 4


def _rating_page_queries(client, n_arms: int, extra_dims: int) -> tuple[int, str]:
    study = StudyFactory()
    study.rubric = study.rubric + [
        {"key": f"extra{i}", "label": f"Extra {i}", "scale": "likert", "min": 1, "max": 5, "required": True}
        for i in range(extra_dims)]
    study.save()
    arms = [StudyArmFactory(study=study, position=i).arm for i in range(n_arms)]
    case = CaseFactory(study=study)
    for arm in arms:
        ResponseFactory(case=case, arm=arm)
    rater = UserFactory(role=CLINICIAN)
    assignments_plan(study=study, raters=[rater])
    client.force_login(rater)
    url = client.get("/rate/next/")["Location"]
    client.get(url)  # the first view records the showing; measure a reload
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), url


def test_rating_page_queries_do_not_grow_with_responses_or_dimensions(client, django_assert_max_num_queries):
    small, _ = _rating_page_queries(client, n_arms=2, extra_dims=0)
    large, url = _rating_page_queries(client, n_arms=4, extra_dims=6)
    assert small == large
    with django_assert_max_num_queries(MAX_QUERIES):
        assert client.get(url).status_code == 200
