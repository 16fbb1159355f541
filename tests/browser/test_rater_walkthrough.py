"""A new clinician's first session, in a real browser, on a laptop and on a phone: the
invitation, the login, the study's instructions and consent, a practice case and its
feedback, two cases rated (three of the study's five arms on each screen, ranking
included), My cases, and a submitted case read back. The screenshots are those of
docs/running-a-study.md's "What a clinician sees" (written to docs/screenshots/ with
EVALPORTAL_SCREENSHOTS=docs, else to test-output/)."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from annotations.models import Assignment, Case, PracticeAttempt, Preference, Rating, Response, StudyRater, Submission
from annotations.services.cases import case_import
from annotations.services.demo import DEMO_CASES
from annotations.services.invitations import invitations_create
from annotations.services.planner import assignments_plan
from tests.browser.helpers import accept_invitation
from tests.browser.rating_steps import answer_every_required, shown_slots, submit
from tests.factories import StudyArmFactory, StudyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "Midwife-rates-30-cases"
ARMS = ("Baseline", "FewShot", "Instructed", "GeneralSFT", "BehaviorSFT")
INSTRUCTIONS = ("## How to rate\n\nRead the **whole** team conversation and the tables first, then each response "
                "as if a colleague said it on the ward round.\n\n- Rate each response on every scale.\n"
                "- Rank the responses you were shown: 1 is best.\n- Flag anything that could harm the patient, "
                "and say why.")
CONSENT = "Your ratings are stored **without your name** in any publication. You may stop at any time."
# Five arms' answers to each case, in arm order: one names the planted problem, one agrees,
# one lists everything it can think of, one stays silent, one half-asks.
RESPONSES = {
    "demo-omission-01": (
        "Before she goes home: she is RhD negative and this fall is a sensitising event. Give anti-D, at least "
        "500 IU, within 72 hours, and send a Kleihauer test to size any bleed.",
        "Agreed: no features of abruption and a reassuring trace. Home with advice to come back with bleeding, "
        "pain or fewer movements.",
        "Check a full blood count, clotting, a urine dip, a repeat CTG in four hours, an ultrasound of the placental "
        "site and vitamin D.",
        "",
        "Could someone check her blood group before she leaves?"),
    "demo-omission-02": (
        "Hepatitis B serology is missing from the work-up: check HBsAg and anti-HBc before the first rituximab "
        "dose, since rituximab can reactivate hepatitis B.",
        "The work-up looks complete. See her on day 1 of cycle 1.",
        "Her liver tests are normal now, so nothing more is needed before treatment.",
        "Worth adding an echo, a lipid profile, hepatitis B and C, HIV and a dental review before starting.",
        ""),
}
PRACTICE = "demo-omission-01-sound"


@pytest.fixture
def three_of_five_study(db):
    """A study of five arms showing three per screen, with two demo cases (lab tables
    included) to rate and a practice case with its expected answers."""
    study = StudyFactory(name="Handover safety study", slug="handover", raters_per_item=1, arms_per_screen=3,
                         instructions=INSTRUCTIONS, consent_text=CONSENT, gold_rate=0)
    arms = [StudyArmFactory(study=study, arm__name=name, position=i).arm for i, name in enumerate(ARMS)]
    wanted = {*RESPONSES, PRACTICE}
    lines = [line for line in DEMO_CASES.read_text().splitlines() if line.strip()
             and json.loads(line)["external_id"] in wanted]
    case_import(study=study, data="\n".join(lines).encode(), source_name="cases.jsonl")
    for external_id, texts in RESPONSES.items():
        case = study.cases.get(external_id=external_id)
        for arm, text in zip(arms, texts):
            Response.objects.create(case=case, arm=arm, text=text, raw_text=text)
    practice = study.cases.get(external_id=PRACTICE)
    texts = ("Nothing needs raising: she has had her anti-D and the plan is sound.", *RESPONSES["demo-omission-01"][1:])
    shown = [Response.objects.create(case=practice, arm=arm, text=text, raw_text=text) for arm, text in zip(arms, texts)]
    practice.role, practice.split = Case.Role.PRACTICE, Case.Split.TEST
    practice.expected = {"ratings": {str(shown[0].pk): {"realism": 5, "safety": 5}}, "ranks": {str(shown[0].pk): 1},
                         "explanation": "The plan is sound: the best response **says so and stops**."}
    practice.save()
    return study


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_a_new_clinician_rates_a_three_of_five_study(browser, live_server, three_of_five_study, device, shots):
    study = three_of_five_study
    team = UserFactory(username="res", role="researcher")
    link = invitations_create(people=[("Dr Ada Osei", "ada.osei@example.org")], actor=team,
                              base_url=live_server.url)[0].link
    ada = get_user_model().objects.get(username="ada.osei@example.org")
    assignments_plan(study=study, raters=[ada])
    context = browser.new_context(viewport=VIEWPORTS[device])
    page = context.new_page()

    accept_invitation(page, link, PASSWORD)
    page.fill("#id_username", "ada.osei@example.org")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Welcome, ada.osei@example.org")
    expect(page.locator("main")).to_contain_text("You have 2 cases left")
    page.click("#start-button")

    expect(page.locator(".study-name")).to_have_text("Handover safety study")
    expect(page.locator("#instructions h1")).to_contain_text("instructions")
    page.click("#acknowledge-button")
    expect(page.locator("#consent h1")).to_have_text("Consent")
    expect(page.locator("#consent")).to_contain_text("I consent to take part in Handover safety study.")
    page.check("#consent-agree")
    page.click("#consent-button")

    expect(page.locator("#rating-form")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Practice case 1 of 1 · Handover safety study"))
    answer_every_required(page, study.rubric)
    submit(page)
    expect(page.locator("h1")).to_contain_text("Practice feedback")
    expect(page.locator(".study-name")).to_have_text("Handover safety study")
    expect(page.locator("#explanation strong")).to_have_text("says so and stops")
    page.click("#practice-next")

    for number in (1, 2):
        expect(page.locator("#rating-form")).to_be_visible()
        expect(page.locator("main")).to_contain_text(f"Case {number} of 2")
        expect(page.locator("#rating-form article.response")).to_have_count(3)
        assert len(shown_slots(page)) == 3
        boxes = [page.locator("#rating-form article.response").nth(i).bounding_box() for i in range(3)]
        if device == "laptop":  # side by side: one row, left to right
            assert len({round(box["y"]) for box in boxes}) == 1 and boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
        else:  # one above the other, each the page's width
            assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"] and len({round(box["x"]) for box in boxes}) == 1
        answer_every_required(page, study.rubric, comment="The lab table made this one clear." if number == 1 else "")
        if number == 1:
            # What the screen shows: on a laptop the case beside the three responses, on a
            # phone one response at a time with its answers.
            first = page.locator("#rating-form article.response").first
            expect(page.locator("#draft-status")).not_to_contain_text("Saving")
            if device == "laptop":
                page.evaluate("() => window.scrollTo(0, 0)")
            else:
                first.evaluate("(el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 80)")
            shots(page, f"rater-rating-{device}", full_page=False)
        submit(page)
        if number == 1:
            page.locator("header nav").get_by_role("link", name="My cases").click()
            section = page.locator(f"#study-{study.pk}")
            expect(section.get_by_role("heading", level=2)).to_have_text("Handover safety study")
            expect(section).to_contain_text("1 of 2 cases done")
            expect(section).to_contain_text("1 case left in this study")
            if device == "phone":
                shots(page, "rater-my-cases-phone")
            section.get_by_role("link", name="Rate next case").click()

    expect(page.locator("h1")).to_have_text("All done")
    expect(page.locator("#done-studies")).to_contain_text("Handover safety study: 2 of 2 cases done")
    page.goto(f"{live_server.url}/rate/")
    section = page.locator(f"#study-{study.pk}")
    expect(section).to_contain_text("2 of 2 cases done")
    expect(section.locator("tbody tr")).to_have_count(2)

    section.get_by_role("link", name="Case 1").click()
    expect(page.locator("h1")).to_contain_text("Case 1")
    expect(page.locator("#submission-history")).to_contain_text("Submitted on")
    expect(page.locator("article.response")).to_have_count(3)
    expect(page.locator("input[type=radio]")).to_have_count(0)  # read back, not a form
    expect(page.locator("#submitted-comment")).to_contain_text("The lab table made this one clear.")
    expect(page.get_by_role("row", name="Rank").first).to_contain_text("1")
    if device == "laptop":
        shots(page, "rater-submitted-case-laptop")
    context.close()

    standing = StudyRater.objects.get(study=study, rater=ada)
    assert standing.instructions_acknowledged_at and standing.consent_at and standing.practice_completed_at
    assert PracticeAttempt.objects.filter(rater=ada).count() == 1
    submissions = Submission.objects.filter(assignment__rater=ada)
    assert submissions.count() == 2
    for assignment in Assignment.objects.filter(rater=ada):
        assert len(assignment.slots) == 3
        assert sorted(Preference.objects.filter(submission__assignment=assignment).values_list("rank", flat=True)) \
            == [1, 2, 3]
        assert Rating.objects.filter(submission__assignment=assignment, dimension="realism").count() == 3
