"""Raters read a study's instructions before their first case (acknowledged once) and can
open them on every rating page; the Markdown is rendered without letting HTML through."""

import pytest

from annotations.markdown import render_markdown
from annotations.models import Assignment, AuditEvent, StudyRater
from annotations.services.planner import assignments_plan

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

INSTRUCTIONS = "## How to rate\n\nRead the **whole** conversation first. See [the protocol](https://example.org/p)."


@pytest.fixture
def planned(rated_study, clinician):
    rated_study.instructions = INSTRUCTIONS
    rated_study.save()
    assignments_plan(study=rated_study, raters=[clinician])
    return rated_study


def test_the_first_case_asks_for_the_instructions_once(planned, clinician, clinician_client):
    own = Assignment.objects.filter(rater=clinician).order_by("queue_position").first()
    first = clinician_client.get(f"/rate/{own.pk}/")
    assert first["Location"] == f"/rate/studies/{planned.pk}/instructions/"
    page = clinician_client.get(first["Location"]).content.decode()
    assert "<strong>whole</strong>" in page and '<a href="https://example.org/p">the protocol</a>' in page
    # Submitting without having read them is not possible either.
    assert clinician_client.post(f"/rate/{own.pk}/submit/", {})["Location"] == first["Location"]

    assert clinician_client.post(first["Location"])["Location"] == "/rate/next/"
    standing = StudyRater.objects.get(study=planned, rater=clinician)
    assert standing.instructions_acknowledged_at is not None
    clinician_client.post(first["Location"])  # a second acknowledgement changes nothing
    assert AuditEvent.objects.filter(action="rater.instructions").count() == 1

    rating = clinician_client.get(f"/rate/{own.pk}/")
    assert rating.status_code == 200
    body = rating.content.decode()
    assert '<details class="instructions" id="instructions">' in body  # collapsed, one click away
    assert "<strong>whole</strong>" in body


def test_a_study_without_instructions_goes_straight_to_rating(rated_study, clinician, clinician_client):
    assignments_plan(study=rated_study, raters=[clinician])
    url = clinician_client.get("/rate/next/")["Location"]
    body = clinician_client.get(url).content.decode()
    assert 'id="rating-form"' in body and 'id="instructions"' not in body


def test_instructions_of_a_study_without_work_for_the_rater_are_not_found(planned, clinician_client):
    from tests.factories import StudyFactory

    other = StudyFactory(instructions="secret")
    assert clinician_client.get(f"/rate/studies/{other.pk}/instructions/").status_code == 404
    assert clinician_client.get("/rate/studies/99999999999999999999/instructions/").status_code == 404


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))", "<a href='https://x.org'>raw link</a>", "[x](data:text/html;base64,PHNjcmlwdD4=)"
])
def test_markdown_never_lets_markup_or_script_links_through(text):
    html = render_markdown(text)
    assert "<script" not in html and "<img" not in html and "<a " not in html  # shown as text, never as markup


def test_an_image_is_never_fetched_by_a_raters_browser():
    html = render_markdown("![pixel](https://tracker.example/p.png)")
    assert "<img" not in html
