"""What the rating page says around the form: the study's name and the case's place, the
instructions with the number of responses, and each response as Markdown, blinded first
and with its own HTML shown as text."""

import pytest

from annotations.models import Response
from annotations.services.planner import assignments_plan
from annotations.services.raters import study_rater_acknowledge_instructions

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _first_page(client) -> str:
    response = client.get("/rate/next/")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    return page.content.decode()


def test_a_response_is_blinded_then_shown_as_markdown_with_its_html_as_text(rated_study, clinician,
                                                                                clinician_client):
    Response.objects.filter(case__study=rated_study).update(
        text="<|proactive|>**Hold** the heparin <|reactive|><script>alert(1)</script>\n\n| test | day 1 |\n|---|---|\n"
             "| platelets | 80 |")
    assignments_plan(study=rated_study, raters=[clinician])
    html = _first_page(clinician_client)
    assert "<|" not in html and "&lt;|" not in html  # no behavior token, raw or escaped
    assert "<strong>Hold</strong> the heparin" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert html.count('<div class="table-scroll"><table>') == 3  # one table per response, each scrolling


def test_the_page_names_the_study_and_says_how_many_responses_it_shows(rated_study, clinician, clinician_client):
    rated_study.name = "Heparin <safety> study"
    rated_study.instructions = "Read **everything**."
    rated_study.save()
    assignments_plan(study=rated_study, raters=[clinician])
    study_rater_acknowledge_instructions(study=rated_study, rater=clinician)
    html = _first_page(clinician_client)
    assert "<h1>Heparin &lt;safety&gt; study: Case 1 of 6</h1>" in html
    assert "You see 3 responses to each case, labelled A, B and C." in html
    assert "Read <strong>everything</strong>." in html
    assert html.count("<h1") == 1
    assert '<a class="skip-link" href="#rating-form">' in html and 'id="rating-form"' in html


def test_every_page_has_a_favicon_a_skip_link_and_researchers_a_link_to_the_api_docs(researcher_client):
    icon = researcher_client.get("/favicon.ico")
    assert icon.status_code == 302 and icon["Location"].endswith("/favicon.svg")
    html = researcher_client.get("/studies/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html
    assert '<a href="/api/docs/">API docs</a>' in html
