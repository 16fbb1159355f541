"""A clinician submits a case, finds it under My cases, corrects it with a reason and
sees the correction, in a real browser."""

import pytest
from playwright.sync_api import expect

from annotations.models import AuditEvent, Rating, Submission
from annotations.services.planner import assignments_plan
from tests.browser.helpers import log_in
from tests.conftest import complete_rating

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _answer(page, data: dict) -> None:
    for name, value in data.items():
        if name == "comment":
            page.fill("#id_comment", value)
        else:
            page.check(f"input[name={name}][value='{value}']")


def test_a_clinician_corrects_a_submitted_case(page, live_server, rated_study, clinician, output_dir):
    assignments_plan(study=rated_study, raters=[clinician])
    log_in(page, live_server.url, "clin", landing="Welcome, clin")
    page.click("#start-button")
    expect(page.locator(".rate-header")).to_contain_text("Case 1 of 6")
    _answer(page, complete_rating(3, rated_study.rubric, likert="3"))
    page.click("#submit-button")
    expect(page.locator(".rate-header")).to_contain_text("Case 2 of 6")
    original = Submission.objects.get()

    page.locator("header nav").get_by_role("link", name="My cases").click()
    study = page.locator(f"#study-{rated_study.pk}")
    expect(study.get_by_role("heading", level=2)).to_have_text(rated_study.name)
    expect(study).to_contain_text("1 of 6 cases done")
    study.get_by_role("link", name="Case 1").click()
    expect(page.locator("h1")).to_contain_text("Case 1")
    expect(page.locator("#submission-history")).to_contain_text("Submitted on")
    expect(page.get_by_role("row", name="Realism").first).to_contain_text("3")

    page.click("#correct-button")
    expect(page.locator("h1")).to_contain_text("Correct case 1")
    expect(page.locator("input[name=r0_realism][value='3']")).to_be_checked()  # the current answers
    page.check("input[name=r0_realism][value='5']")
    expect(page.locator("#draft-status")).to_have_text("")  # a correction keeps no draft: nothing "Saving…"
    page.click("#submit-button")  # no reason yet: refused, the new answer kept
    expect(page.locator("#error-summary")).to_contain_text("Say why you are correcting this case.")
    expect(page.locator("input[name=r0_realism][value='5']")).to_be_checked()
    assert Submission.objects.count() == 1

    page.get_by_label("Reason for the correction").fill("I misread the platelet trend.")
    expect(page.locator("#error-summary")).to_contain_text("Every answer is given")
    page.screenshot(path=str(output_dir / "correction-form.png"), full_page=True)
    page.click("#submit-button")
    expect(page.locator(".messages")).to_contain_text("Your correction is saved (revision 2).")
    expect(page.locator("#revision-2")).to_contain_text("I misread the platelet trend.")
    expect(page.locator("#revision-2")).to_contain_text("current")
    expect(page.get_by_role("row", name="Realism").first).to_contain_text("5")
    page.screenshot(path=str(output_dir / "corrected-case.png"), full_page=True)

    original.refresh_from_db()
    current = Submission.objects.get(is_current=True)
    assert not original.is_current and current.revision == 2 and current.reason == "I misread the platelet trend."
    assert Rating.objects.get(submission=original, slot=0, dimension="realism").score == 3
    assert Rating.objects.get(submission=current, slot=0, dimension="realism").score == 5
    assert AuditEvent.objects.filter(action="submission.revise", actor=clinician).count() == 1

    page.locator("header nav").get_by_role("link", name="My cases").click()
    expect(page.locator(f"#study-{rated_study.pk}-submitted")).to_contain_text("Corrected")
