"""What a rater types survives the end of their session: a draft that could not be saved
says so (never "Draft saved"), the browser keeps the text, and a submission posted
without a session comes back, after logging in, as the rating form filled in as it was."""

import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from annotations.models import Assignment, Submission
from annotations.services.planner import assignments_plan, assignments_release_idle
from annotations.services.rating import assignment_next
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

FIRST = "The platelet count halved since Monday."
MORE = " Stop the heparin and send a PF4 test."
PASSWORD = "pw-for-tests-123"


def _log_in(page, username):
    """The login form as it stands: whatever page it came from, with its own next."""
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")


def _end_session(page):
    """As when the session expires or is ended elsewhere: the browser holds no session."""
    page.context.clear_cookies(name="sessionid")


def _kept(page, assignment: Assignment):
    return page.evaluate("id => JSON.parse(localStorage.getItem('evalportal:rating:' + id))", str(assignment.pk))


def _answer_everything(page, rubric, n_slots=3):
    for slot in range(n_slots):
        for dim in rubric:
            name = f"r{slot}_{dim['key']}"
            if dim["scale"] == "likert":
                page.check(f"input[name={name}][value='4']")
            elif dim["scale"] == "categorical":
                page.check(f"input[name={name}][value='{dim['choices'][1][0]}']")
        page.check(f"input[name=rank_{slot}][value='{slot + 1}']")


@pytest.fixture
def rating(page, live_server, rated_study, clinician):
    """The clinician logged in, on their first case, with a draft saved."""
    assignments_plan(study=rated_study, raters=[clinician])
    page.goto(f"{live_server.url}/accounts/login/")
    _log_in(page, "clin")
    expect(page.locator("h1")).to_contain_text("Welcome, clin")
    page.goto(f"{live_server.url}/rate/next/")
    expect(page.locator(".rate-header")).to_contain_text("Case 1 of 6")
    assignment = Assignment.objects.get(rater=clinician, status=Assignment.Status.IN_PROGRESS)
    page.fill("#id_comment", FIRST)
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    return assignment


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_typing_after_the_session_ended_is_kept_and_submitted_after_logging_in(page, rating, rated_study):
    assignment = rating
    _end_session(page)
    page.locator("#id_comment").press("End")
    page.keyboard.type(MORE)

    status = page.locator("#draft-status")
    expect(status).to_contain_text("Not saved: log in again")
    expect(status).not_to_contain_text("Draft saved")
    expect(page.locator("#log-in-again")).to_have_attribute("target", "_blank")
    assignment.refresh_from_db()
    assert assignment.draft["comment"] == FIRST  # nothing stored without a session
    assert _kept(page, assignment)["values"]["comment"] == FIRST + MORE

    _answer_everything(page, rated_study.rubric)
    page.click("#submit-button")
    expect(page.locator(".messages")).to_contain_text("your answers were not submitted")
    assert not Submission.objects.exists()

    _log_in(page, "clin")
    expect(page).to_have_url(re.compile(rf"/rate/{assignment.pk}/"))  # the form, not the submit URL
    expect(page.locator("#id_comment")).to_have_value(FIRST + MORE)
    expect(page.locator("input[name=r2_realism][value='4']")).to_be_checked()
    expect(status).to_contain_text("Draft saved")  # what was restored is saved at once
    assignment.refresh_from_db()
    assert assignment.draft["comment"] == FIRST + MORE

    page.click("#submit-button")
    expect(page.locator(".rate-header")).to_contain_text("Case 2 of 6")
    assert Submission.objects.get(assignment=assignment).comment == FIRST + MORE
    assert _kept(page, assignment) is None  # stored on the server: the browser lets it go


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_logging_in_again_in_a_new_tab_lets_the_open_page_save_and_submit(page, rating, rated_study):
    assignment = rating
    _end_session(page)
    page.locator("#id_comment").press("End")
    page.keyboard.type(MORE)
    expect(page.locator("#draft-status")).to_contain_text("Not saved: log in again")

    with page.context.expect_page() as opened:
        page.click("#log-in-again")
    tab = opened.value
    _log_in(tab, "clin")
    expect(tab.locator("#id_comment")).to_have_value(FIRST + MORE)
    tab.close()

    # Logging in gave the browser a new CSRF token: the open page takes it up.
    page.locator("#id_comment").press("End")
    page.keyboard.type(" Recheck tomorrow.")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    assignment.refresh_from_db()
    assert assignment.draft["comment"] == FIRST + MORE + " Recheck tomorrow."
    _answer_everything(page, rated_study.rubric)
    page.click("#submit-button")
    expect(page.locator(".rate-header")).to_contain_text("Case 2 of 6")
    assert Submission.objects.get(assignment=assignment).comment == FIRST + MORE + " Recheck tomorrow."


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_case_another_rater_took_meanwhile_shows_what_was_typed(page, rating, rated_study):
    assignment = rating
    _end_session(page)
    page.locator("#id_comment").press("End")
    page.keyboard.type(MORE)
    expect(page.locator("#draft-status")).to_contain_text("Not saved: log in again")
    Assignment.objects.filter(pk=assignment.pk).update(last_activity_at=timezone.now() - timedelta(days=1))
    assert assignments_release_idle(study=rated_study) == 1
    assert assignment_next(rater=UserFactory(username="newcomer", role=CLINICIAN)).pk == assignment.pk

    page.click("#submit-button")
    _log_in(page, "clin")

    expect(page.locator("#case-gone")).to_contain_text("another rater has taken it")
    expect(page.locator("#typed-text textarea")).to_have_value(FIRST + MORE)
    assert not Submission.objects.exists()


# The same, as the server answers it (no browser needed).

@pytest.fixture
def opened(rated_study, clinician, clinician_client):
    assignments_plan(study=rated_study, raters=[clinician])
    url = clinician_client.get("/rate/next/")["Location"]
    page = clinician_client.get(url).content.decode()
    token = html.unescape(re.search(r'name="shown" value="([^"]+)"', page)[1])
    return Assignment.objects.get(pk=int(url.strip("/").split("/")[-1])), url, token


def _next_of(response) -> str:
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/login/"
    return parse_qs(location.query)["next"][0]


@pytest.mark.django_db
def test_a_draft_without_a_session_stores_nothing_and_points_back_to_the_form(opened):
    assignment, url, token = opened
    response = Client().post(f"{url}draft/", {"comment": FIRST, "shown": token})
    assert urlsplit(_next_of(response)).path == url
    assert Assignment.objects.get(pk=assignment.pk).draft == {}


@pytest.mark.django_db
def test_a_submission_without_a_session_comes_back_to_the_form_after_logging_in(opened, rated_study):
    assignment, url, token = opened
    anonymous = Client()
    data = complete_rating(3, rated_study.rubric) | {"shown": token}
    back = _next_of(anonymous.post(f"{url}submit/", data))
    assert urlsplit(back).path == url  # the form, which a GET opens; not the submit URL

    page = anonymous.post("/accounts/login/", {"username": "clin", "password": PASSWORD, "next": back}, follow=True)

    assert page.status_code == 200 and page.redirect_chain[-1][0] == back
    assert 'id="rating-form"' in page.content.decode()
    assert not Submission.objects.exists()
