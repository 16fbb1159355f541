"""Every page a clinician can see passes axe-core's WCAG 2.1 A and AA rules, on a laptop
and on a phone: from the invitation and the login to the rating page, My cases and the
pages that refuse a case. A clinician who rates by keyboard or with a screen reader
meets no page that shuts them out."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from annotations.models import Assignment, Study
from annotations.services.invitations import invitations_create
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from tests.browser.axe import axe_violations, violations_report
from tests.browser.rating_steps import answer_every_required, submit
from tests.conftest import complete_rating
from tests.factories import UserFactory, practice_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "pw-for-tests-123"
INSTRUCTIONS = "## How to rate\n\nRead the **whole** conversation first.\n\n- Rate every response.\n- Flag harm."
CONSENT = "Your ratings are stored **without your name**. You may stop at any time."


@pytest.fixture
def onboarding_study(rated_study):
    """rated_study (3 arms, 6 cases) with instructions, a consent text and a practice case
    with its expected answers."""
    rated_study.instructions, rated_study.consent_text = INSTRUCTIONS, CONSENT
    rated_study.gold_rate = 0
    rated_study.save()
    rated_study.cases.update(specialty="haematology / oncology")  # the longest the demo has
    practice_case(rated_study, text="Practice answer {n}.", best=0, realism=4,
                  explanation="The first answer **holds the heparin**.")
    return rated_study


# The elements that stick out past the right edge of the screen, the outermost of each
# overflowing branch.
OVERFLOWING = """() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return [];
    const out = [];
    for (const el of document.body.querySelectorAll("*")) {
        if (el.getBoundingClientRect().right > width + 1 && !out.some(o => o.contains(el))) out.push(el);
    }
    return out.slice(0, 5).map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : ""));
}"""


class Audit:
    """The pages checked and the violations found on each, reported together."""

    def __init__(self, page, viewport: str):
        self.page, self.viewport, self.checked, self.failures = page, viewport, [], []

    def check(self, name: str) -> None:
        self.page.wait_for_load_state("load")
        self.checked.append(name)
        violations = axe_violations(self.page)
        if violations:
            self.failures.append(f"== {name} ({self.page.url})\n{violations_report(violations)}")
        # Reflow (WCAG 1.4.10): nothing wider than the screen, so a phone never scrolls sideways.
        wide = self.page.evaluate(OVERFLOWING)
        if wide:
            self.failures.append(f"== {name} ({self.page.url})\nwider than the {self.viewport} screen: {wide}")

    def goto(self, name: str, url: str) -> None:
        self.page.goto(url)
        self.check(name)


def _log_in(page, base, username, password=PASSWORD):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_rater_page_passes_axe(browser, live_server, onboarding_study, clinician, viewport):
    study, base = onboarding_study, live_server.url
    assignments_plan(study=study, raters=[clinician])
    other = UserFactory(username="other-clin")
    invited = invitations_create(people=[("Dr Ada Osei", "ada@example.org")], actor=clinician, base_url=base)[0]
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    audit = Audit(page, viewport)

    audit.goto("invitation", invited.link)
    audit.goto("login", f"{base}/accounts/login/")
    page.fill("#id_username", "clin")
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    audit.check("login refused")
    audit.goto("password reset", f"{base}/accounts/password/reset/")

    _log_in(page, base, "clin")
    audit.check("start page (My cases before any case)")
    page.click("#start-button")
    audit.check("instructions")
    page.click("#acknowledge-button")
    audit.check("consent")
    page.click("#consent-button")  # not ticked: refused
    audit.check("consent refused")
    page.check("#consent-agree")
    page.click("#consent-button")
    audit.check("practice case")
    answer_every_required(page, study.rubric)
    submit(page)
    audit.check("practice feedback")
    page.click("#practice-next")

    audit.check("rating page, 3 responses")
    submit(page)  # nothing answered: refused with every missing answer listed
    audit.check("rating page with validation errors")
    answer_every_required(page, study.rubric, comment="Clear case.")
    rating_url = page.url
    submit(page)
    page.wait_for_url(lambda url: url != rating_url)

    audit.goto("My cases", f"{base}/rate/")
    first = Assignment.objects.get(rater=clinician, status=Assignment.Status.SUBMITTED)
    audit.goto("submitted case, read-only", f"{base}/rate/{first.pk}/submitted/")
    page.click("#correct-button")
    audit.check("correction form")
    submit(page)  # no reason given: refused
    audit.check("correction form refused")

    # The case open in the browser goes to another rater while the clinician types.
    open_case = Assignment.objects.filter(rater=clinician).exclude(status=Assignment.Status.SUBMITTED).order_by(
        "queue_position").first()
    page.goto(f"{base}/rate/{open_case.pk}/")
    answer_every_required(page, study.rubric, comment="Typed before the case went to someone else.")
    Assignment.objects.filter(pk=open_case.pk).update(rater=other, last_activity_at=timezone.now())
    submit(page)
    audit.check("case gone, typed text shown back")
    expect(page.locator("#typed-text textarea")).to_have_value("Typed before the case went to someone else.")
    audit.goto("someone else's case", f"{base}/rate/{open_case.pk}/")

    # The study closes while a case is open.
    still_open = Assignment.objects.filter(rater=clinician).exclude(status=Assignment.Status.SUBMITTED).order_by(
        "queue_position")
    page.goto(f"{base}/rate/{still_open[0].pk}/")
    page.fill("#id_comment", "Typed before the study closed.")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED, closed_reason="Enough ratings")
    submit(page)
    audit.check("study closed, typed text shown back")
    expect(page.locator("#typed-text textarea")).to_have_value("Typed before the study closed.")
    audit.goto("study closed", f"{base}/rate/{still_open[1].pk}/")
    audit.goto("start page with a closed study", f"{base}/rate/")

    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN, closed_reason="")
    for assignment in Assignment.objects.filter(rater=clinician).exclude(status=Assignment.Status.SUBMITTED):
        assignment_submit(assignment=assignment, rater=clinician, data=complete_rating(3, study.rubric))
    audit.goto("done", f"{base}/rate/next/")
    audit.goto("My cases, all done", f"{base}/rate/")

    audit.goto("403", f"{base}/studies/")
    audit.goto("404", f"{base}/rate/999999/submitted/")
    audit.goto("password change", f"{base}/accounts/password/change/")
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "Another-pass-for-tests-9")
    page.fill("#id_new_password2", "Another-pass-for-tests-9")
    page.click("main button[type=submit]")
    audit.check("password changed")
    context.close()

    nobody = UserFactory(username="nobody", role=None)
    nobody.groups.clear()
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    audit.page = page = context.new_page()
    _log_in(page, base, "nobody")
    audit.check("no role")
    context.close()

    assert len(audit.checked) >= 25
    assert not audit.failures, (f"axe-core (WCAG 2.1 A/AA) at {viewport}, {len(audit.failures)} of "
                                f"{len(audit.checked)} pages:\n" + "\n".join(audit.failures))


def test_the_audit_catches_a_violation(page, live_server, clinician):
    """The check can fail: an image without a text alternative, put on a real page, is reported
    with its rule, impact and selector."""
    _log_in(page, live_server.url, "clin")
    page.evaluate("() => { const img = document.createElement('img'); img.id = 'no-alt';"
                  " img.src = '/static/none.png'; document.querySelector('main').append(img); }")
    report = violations_report(axe_violations(page))
    assert "image-alt (critical)" in report and "#no-alt" in report

