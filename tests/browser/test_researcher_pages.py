"""The research team's pages in a real browser: a destructive button asks first, and
nothing changes unless the answer is OK; the rubric's preview shows the dimensions as
raters will see them."""

import json

import pytest
from playwright.sync_api import expect

from annotations.models import Assignment, Study, StudyRater
from annotations.services.planner import assignments_plan
from evalportal.roles import CLINICIAN
from tests.browser.helpers import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _answer(page, accept: bool, asked: list[str]):
    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()
    page.once("dialog", answer)


def _assignment_ids(study) -> set[int]:
    return set(Assignment.objects.filter(study=study).values_list("id", flat=True))


def test_replanning_and_closing_change_nothing_until_confirmed(page, live_server, rated_study, researcher):
    raters = [UserFactory(username=f"r{i}", role=CLINICIAN) for i in range(2)]
    assignments_plan(study=rated_study, raters=raters)
    before = _assignment_ids(rated_study)
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/studies/{rated_study.slug}/")
    asked: list[str] = []

    _answer(page, False, asked)
    page.click("#plan-button")
    page.wait_for_timeout(300)
    assert asked == ["Re-planning removes the 12 unopened assignments and plans them again."]
    assert _assignment_ids(rated_study) == before and page.locator(".messages").count() == 0

    _answer(page, True, asked)
    page.click("#plan-button")
    expect(page.locator(".messages")).to_be_visible()
    after = _assignment_ids(rated_study)
    assert len(after) == 12 and not after & before  # dropped and planned again

    page.fill("#id_reason", "Enough ratings for the interim analysis")
    _answer(page, False, asked)
    page.click("#close-study")
    page.wait_for_timeout(300)
    assert asked[-1] == "Close the study? Raters can no longer rate; reason: Enough ratings for the interim analysis"
    assert Study.objects.get(pk=rated_study.pk).status == Study.Status.OPEN

    _answer(page, True, asked)
    page.click("#close-study")
    expect(page.locator(".messages")).to_contain_text("closed")
    closed = Study.objects.get(pk=rated_study.pk)
    assert (closed.status, closed.closed_reason) == ("closed", "Enough ratings for the interim analysis")


def test_removing_a_rater_changes_nothing_until_confirmed(page, live_server, rated_study, researcher):
    rater = UserFactory(username="dr-ames", role=CLINICIAN)
    assignments_plan(study=rated_study, raters=[rater])
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/studies/{rated_study.slug}/raters/")
    asked: list[str] = []
    remove = page.locator(f"#rater-{rater.pk} button", has_text="Remove")

    _answer(page, False, asked)
    remove.click()
    page.wait_for_timeout(300)
    assert asked == ["Remove dr-ames from this study? Their 6 open cases go back to the pool; their ratings stay."]
    assert not StudyRater.objects.filter(study=rated_study, rater=rater).exists()

    _answer(page, True, asked)
    remove.click()
    expect(page.locator(".messages")).to_contain_text("removed")
    assert StudyRater.objects.get(study=rated_study, rater=rater).status == StudyRater.Status.REMOVED


def test_the_rubric_preview_shows_the_dimensions_and_the_problems(page, live_server, researcher):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/studies/new/")
    expect(page.locator("#id_rubric")).to_contain_text('"key": "realism"')
    page.click("#rubric-preview-button")
    expect(page.locator("#rubric-preview legend", has_text="Realism")).to_be_visible()
    page.fill("#id_rubric", json.dumps([{"key": "clarity", "label": "Clarity", "scale": "stars"}]))
    page.click("#rubric-preview-button")
    expect(page.locator("#rubric-problems")).to_contain_text("'scale' must be one of likert, categorical, flag")
    assert errors == []


def test_the_research_teams_pages_pass_axe(page, live_server, rated_study, researcher):
    """WCAG 2.1 A/AA and axe's best practices (a named progress bar, landmarks told apart)
    on the pages a researcher sets a study up with."""
    from annotations.services.rating import assignment_submit
    from tests.browser.axe import WCAG_21_AA, axe_violations, violations_report
    from tests.conftest import complete_rating

    rater = UserFactory(username="dr-ames", role=CLINICIAN)
    assignments_plan(study=rated_study, raters=[rater])
    assignment = Assignment.objects.filter(study=rated_study).first()
    flagged = {**complete_rating(3, rated_study.rubric), "r0_harmful": "on", "r0_harmful_reason": "Misses the HIT"}
    assignment_submit(assignment=assignment, rater=rater, data=flagged)
    log_in(page, live_server.url, "res")
    base, slug, failures = live_server.url, rated_study.slug, []
    for name, url in [("studies", "/studies/"), ("study", f"/studies/{slug}/"), ("new study", "/studies/new/"),
                      ("settings", f"/studies/{slug}/settings/"), ("raters", f"/studies/{slug}/raters/"),
                      ("harm flags", f"/studies/{slug}/harms/"), ("invitations", "/accounts/invitations/")]:
        page.goto(base + url)
        if name == "new study":
            page.click("#rubric-preview-button")
            expect(page.locator("#rubric-preview legend").first).to_be_visible()
        if name == "harm flags":
            page.click("details.harm-case summary")
        violations = axe_violations(page, tags=(*WCAG_21_AA, "best-practice"))
        if violations:
            failures.append(f"== {name}\n{violations_report(violations)}")
    assert not failures, "\n".join(failures)
