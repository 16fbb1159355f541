"""A page that is not for the signed-in role says whom it is for and where that role works,
on the portal's own page, never a bare 403."""

import pytest
from django.test import Client, override_settings

from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER, page_audience
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_clinician_on_a_researcher_page_is_sent_to_my_cases(rated_study, clinician_client):
    response = clinician_client.get(f"/studies/{rated_study.slug}/dashboard/")
    body = response.content.decode()
    assert response.status_code == 403
    assert "<h1>This page is for researchers.</h1>" in body
    assert 'You are signed in as a clinician: <a href="/rate/">My cases</a>' in body
    assert '<header class="topbar">' in body  # the portal's layout, with its menu
    assert rated_study.name not in body  # nothing of the page itself


def test_a_researcher_on_a_clinician_page_is_sent_to_the_studies(researcher_client):
    response = researcher_client.get("/rate/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "<h1>This page is for clinicians.</h1>" in body
    assert 'You are signed in as a researcher: <a href="/studies/">Studies</a>' in body


@override_settings(DEBUG=False)
def test_the_page_is_the_same_with_debug_off(rated_study):
    client = Client()
    client.force_login(UserFactory(role=CLINICIAN))
    body = client.get("/studies/").content.decode()
    assert "This page is for researchers." in body and "My cases" in body


def test_whom_a_page_is_for():
    assert page_audience((RESEARCHER, ADMIN)) == "researchers"
    assert page_audience((CLINICIAN,)) == "clinicians"
    assert page_audience((ADMIN,)) == "admins"
