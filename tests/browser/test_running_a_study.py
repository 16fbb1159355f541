"""Running a study in a real browser, the way the README walks through it: a researcher
invites a clinician, plans and opens the study; the clinician accepts the invitation,
reads the instructions, consents, practises and rates a first case; then a researcher
adjudicates the harm flags and exports. The screenshots are the README's (written to
docs/screenshots/ with EVALPORTAL_SCREENSHOTS=docs, else to test-output/)."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotations.models import Assignment, HarmDecision, PracticeAttempt, Response, Study, StudyRater, Submission
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from evalportal.roles import CLINICIAN
from tests.browser.helpers import accept_invitation
from tests.conftest import complete_rating
from tests.factories import UserFactory, practice_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Registrar-rates-42-cases"
INSTRUCTIONS = ("## How to rate\n\nRead the **whole** team conversation first, then each response as if a colleague "
                "said it on the ward round.\n\n- Rate each response on every scale.\n- Flag anything that could harm "
                "the patient, and say why.")
CONSENT = "Your ratings are stored **without your name** in any publication. You may stop at any time."


def _log_in(page, live_server, username, password="pw-for-tests-123"):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def _answer_everything(page, n_slots, rubric):
    for slot in range(n_slots):
        for dim in rubric:
            name = f"r{slot}_{dim['key']}"
            if dim["scale"] == "likert":
                page.check(f"input[name={name}][value='4']")
            elif dim["scale"] == "categorical":
                page.check(f"input[name={name}][value='appropriate']")
        page.check(f"input[name=rank_{slot}][value='{slot + 1}']")


@pytest.fixture
def draft_study(rated_study):
    rated_study.status = Study.Status.DRAFT
    rated_study.save()
    practice_case(rated_study, text="Practice answer {n}: review the platelets.", best=2, realism=5,
                  explanation="The third answer is the only one that **holds the heparin**.")
    return rated_study


def test_invitation_to_first_rating(browser, live_server, draft_study, researcher, shots):
    study = draft_study
    team = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = team.new_page()
    _log_in(page, live_server, "res")
    page.goto(f"{live_server.url}/studies/{study.slug}/settings/")
    page.fill("#id_instructions", INSTRUCTIONS)
    page.fill("#id_consent_text", CONSENT)
    page.fill("#id_gold_rate", "0")
    shots(page, "study-settings")
    page.click("#study-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Saved")

    page.goto(f"{live_server.url}/accounts/invitations/")
    page.fill("#id_one-name", "Dr Ada Osei")
    page.fill("#id_one-email", "ada.osei@example.org")
    page.click("#invite-one button[type=submit]")
    link = page.locator("input.invitation-link").first.input_value()
    assert "/accounts/invitation/" in link
    shots(page, "invitations")

    page.goto(f"{live_server.url}/studies/{study.slug}/")
    page.click("text=Plan / re-plan assignments")
    expect(page.locator(".messages")).to_contain_text("Planned")
    page.click("#open-study")
    expect(page.locator("#lifecycle h2")).to_contain_text("Open")
    shots(page, "study-page")
    team.close()

    rater = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = rater.new_page()
    accept_invitation(page, link, PASSWORD)
    _log_in(page, live_server, "ada.osei@example.org", PASSWORD)
    expect(page.locator("h1")).to_contain_text("Welcome")
    page.click("#start-button")

    expect(page.locator("#instructions h1")).to_contain_text("instructions")
    expect(page.locator(".study-text strong")).to_have_text("whole")
    shots(page, "instructions")
    page.click("#acknowledge-button")
    expect(page.locator("#consent h1")).to_have_text("Consent")
    page.check("#consent-agree")
    shots(page, "consent")
    page.click("#consent-button")

    expect(page.locator(".rate-header")).to_contain_text("Practice case 1 of 1")
    _answer_everything(page, 3, study.rubric)
    page.click("#submit-button")
    expect(page.locator("h1")).to_contain_text("Practice feedback")
    expect(page.locator("#explanation strong")).to_have_text("holds the heparin")
    shots(page, "practice-feedback")
    page.click("#practice-next")

    expect(page.locator(".rate-header")).to_contain_text("Case 1 of")
    expect(page.locator("details#instructions")).not_to_have_attribute("open", "")
    page.click("details#instructions summary")
    expect(page.locator("details#instructions .study-text")).to_be_visible()
    page.keyboard.press("Escape")  # the instructions open over the form, and close again
    expect(page.locator("details#instructions .study-text")).to_be_hidden()
    _answer_everything(page, 3, study.rubric)
    shots(page, "first-rating", full_page=False)
    page.click("#submit-button")
    expect(page.locator(".rate-header")).to_contain_text("Case 2 of")
    rater.close()

    ada = StudyRater.objects.get(rater__username="ada.osei@example.org")
    assert ada.instructions_acknowledged_at and ada.consent_at and ada.practice_completed_at
    assert PracticeAttempt.objects.filter(rater=ada.rater).count() == 1
    assert Submission.objects.filter(assignment__rater=ada.rater).count() == 1


def test_adjudication_to_export(page, live_server, rated_study, researcher, shots):
    raters = [UserFactory(username=f"rater{i}", role=CLINICIAN) for i in range(2)]
    assignments_plan(study=rated_study, raters=raters)
    arm_of = dict(Response.objects.values_list("id", "arm__name"))
    for assignment in Assignment.objects.filter(study=rated_study).select_related("study", "rater"):
        data = complete_rating(3, rated_study.rubric)
        for slot, response_id in enumerate(assignment.slots):
            if arm_of[response_id] == "Baseline" and assignment.case.external_id == "rc-0":
                data[f"r{slot}_harmful"] = "on"
                data[f"r{slot}_harmful_reason"] = "Continues heparin although the platelets halved"
        assignment_submit(assignment=assignment, rater=assignment.rater, data=data)

    _log_in(page, live_server, "res")
    page.goto(f"{live_server.url}/studies/{rated_study.slug}/harms/")
    flags = page.locator("article.harm-flag")
    expect(flags).to_have_count(2)
    expect(flags.first).to_contain_text("Continues heparin although the platelets halved")
    shots(page, "harm-queue")
    first = flags.first
    first.locator("input[value=confirmed]").check()
    first.locator("textarea[name=note]").fill("HIT risk: the infusion should have been held.")
    first.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("Harm confirmed")
    expect(page.locator("article.harm-flag")).to_have_count(1)

    page.goto(f"{live_server.url}/studies/{rated_study.slug}/dashboard/")
    expect(page.locator("#harms-by-arm")).to_contain_text("Baseline")
    row = page.locator("#harms-by-arm tr", has_text="Baseline")
    expect(row.locator("td").nth(3)).to_have_text("1")
    shots(page, "dashboard-harms")

    page.goto(f"{live_server.url}/studies/{rated_study.slug}/")
    with page.expect_download() as download:
        page.click("text=CSV")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    decided = [r for r in rows if r["harm_decision"]]
    assert [(r["harm_decision"], r["arm"]) for r in decided] == [("confirmed", "Baseline")]
    assert decided[0]["harm_note"] == "HIT risk: the infusion should have been held."
    assert HarmDecision.objects.count() == 1
