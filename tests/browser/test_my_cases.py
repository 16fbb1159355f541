"""A clinician's My cases in a real browser: a submitted case found, corrected with a
reason and the correction seen; the next case of each study opened from its own row."""

import pytest
from playwright.sync_api import expect

from annotations.models import Assignment, AuditEvent, Rating, Submission
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from tests.browser.helpers import log_in
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory

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


@pytest.fixture
def second_study(db):
    """A second open study with 3 arms and 2 cases, named apart from rated_study."""
    study = StudyFactory(name="Sepsis handover review", slug="sepsis", raters_per_item=1)
    arms = [StudyArmFactory(study=study, position=i).arm for i in range(3)]
    for n in range(2):
        case = CaseFactory(study=study, external_id=f"sepsis-{n}")
        for i, arm in enumerate(arms):
            ResponseFactory(case=case, arm=arm, text=f"Sepsis answer {i + 1} (case {n}).")
    return study


def _opened_study(page) -> int:
    assignment_id = int(page.url.rstrip("/").split("/")[-1])
    return Assignment.objects.get(pk=assignment_id).study_id


def test_my_cases_offers_the_next_case_of_each_study(page, live_server, rated_study, second_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    assignments_plan(study=second_study, raters=[clinician])
    log_in(page, live_server.url, "clin", landing="Welcome, clin")
    first, second = page.locator(f"#study-{rated_study.pk}"), page.locator(f"#study-{second_study.pk}")
    expect(first).to_contain_text("0 of 6 cases done")
    expect(first).to_contain_text("6 cases left in this study")
    expect(second).to_contain_text("2 cases left in this study")

    # The start button would open the first study's case; the second study's link opens its own.
    second.get_by_role("link", name="Rate next case").click()
    expect(page.locator("#rating-form")).to_be_visible()
    assert _opened_study(page) == second_study.pk

    # That case is now under way; the first study's link still opens a case of the first study.
    page.locator("header nav").get_by_role("link", name="My cases").click()
    page.locator(f"#study-{rated_study.pk}").get_by_role("link", name="Rate next case").click()
    expect(page.locator("#rating-form")).to_be_visible()
    assert _opened_study(page) == rated_study.pk

    _answer(page, complete_rating(3, rated_study.rubric))
    page.click("#submit-button")
    page.locator("header nav").get_by_role("link", name="My cases").click()
    expect(page.locator(f"#study-{rated_study.pk}")).to_contain_text("1 of 6 cases done")
    expect(page.locator(f"#study-{rated_study.pk}")).to_contain_text("5 cases left in this study")


def test_a_study_with_nothing_waiting_sends_the_rater_back_to_it_on_my_cases(
        page, live_server, rated_study, second_study, clinician):
    assignments_plan(study=second_study, raters=[clinician])
    for assignment in Assignment.objects.filter(rater=clinician, study=second_study):
        assignment_submit(assignment=assignment, rater=clinician, data=complete_rating(3, second_study.rubric))
    log_in(page, live_server.url, "clin", landing="Welcome, clin")
    section = page.locator(f"#study-{second_study.pk}")
    expect(section).to_contain_text("2 of 2 cases done")
    expect(section.get_by_role("link", name="Rate next case")).to_have_count(0)
    page.goto(f"{live_server.url}/rate/studies/{second_study.pk}/next/")  # an old link, or a second tab
    expect(page.locator(".messages")).to_have_text("No case of Sepsis handover review is waiting for you now.")
    assert page.url.endswith(f"/rate/#study-{second_study.pk}")
    page.goto(f"{live_server.url}/rate/next/")
    expect(page.locator("#done-studies")).to_contain_text("Sepsis handover review: 2 of 2 cases done")
