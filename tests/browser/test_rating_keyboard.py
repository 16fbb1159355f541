"""A clinician rates a case in a real browser, with the keyboard only."""

import re

import pytest
from playwright.sync_api import expect

from annotations.models import Assignment, Rating, Submission
from annotations.services.planner import assignments_plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESPONSE_KEYS = ["4", "3", "2", "4", "5"]  # realism, proactivity, intervention (2 = appropriate), helpfulness, safety


def _log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("#id_username")).to_be_focused()  # autofocus
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type("pw-for-tests-123")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text(f"Welcome, {username}")


def _rate_response(page, keys=RESPONSE_KEYS):
    for key in keys:
        page.keyboard.press(key)
        page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the "potentially harmful" checkbox


def test_clinician_rates_with_the_keyboard_reloads_and_submits(page, live_server, rated_study, clinician, output_dir):
    assignments_plan(study=rated_study, raters=[clinician])
    _log_in(page, live_server, "clin")
    expect(page.locator(".lead")).to_contain_text("You have 6 cases left")
    page.keyboard.press("Tab")
    page.locator("#start-button").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".rate-header")).to_contain_text("Case 1 of 6")
    assignment = Assignment.objects.get(rater=clinician, status=Assignment.Status.IN_PROGRESS)

    page.locator("input[name=r0_realism]").first.focus()
    _rate_response(page)
    page.keyboard.press("5")  # Response B realism
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    expect(page.locator("fieldset#f-r0_realism .anchor")).to_contain_text("Like a competent colleague")

    page.reload()
    expect(page.locator("#draft-status")).to_contain_text("Draft restored")
    expect(page.locator("input[name=r0_realism][value='4']")).to_be_checked()
    expect(page.locator("input[name=r0_intervention][value='appropriate']")).to_be_checked()
    expect(page.locator("input[name=r1_realism][value='5']")).to_be_checked()

    # Submitting too early is refused with a clear list of what is missing.
    page.locator("input[name=r1_realism][value='5']").focus()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#error-summary")).to_contain_text("answers missing")
    expect(page.locator("#error-summary")).to_contain_text("Response B: rate Proactivity")
    assert not Submission.objects.exists()
    missing = page.locator("#error-summary li").count()

    page.screenshot(path=str(output_dir / "rating-page-errors.png"), full_page=True)
    page.locator("input[name=r1_realism][value='5']").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("3")  # Response B proactivity
    expect(page.locator("#error-summary li")).to_have_count(missing - 1)
    expect(page.locator("#error-summary")).not_to_contain_text("Response B: rate Proactivity")
    expect(page.locator("#error-summary strong")).to_contain_text(f"{missing - 1} answers missing")
    page.keyboard.press("Tab")
    _rate_response(page, RESPONSE_KEYS[2:])
    _rate_response(page, ["3", "4", "3", "2", "4"])
    for rank in ["2", "2", "1"]:
        page.keyboard.press(rank)
        page.keyboard.press("Tab")
    page.keyboard.type("Response C raised the platelet drop.")
    # Each answer took its line off the list of what was missing.
    expect(page.locator("#error-summary li")).to_have_count(0)
    expect(page.locator("#error-summary")).to_contain_text("Every answer is given")
    page.screenshot(path=str(output_dir / "rating-page.png"), full_page=True)
    page.keyboard.press("Control+Enter")

    expect(page.locator(".rate-header")).to_contain_text("Case 2 of 6")
    submission = Submission.objects.get()
    assert submission.assignment_id == assignment.pk and submission.comment == "Response C raised the platelet drop."
    ratings = {(r.slot, r.dimension): r.score if r.score is not None else r.choice
               for r in Rating.objects.filter(submission=submission)}
    assert ratings[(0, "realism")] == 4 and ratings[(1, "realism")] == 5 and ratings[(2, "realism")] == 3
    assert ratings[(2, "intervention")] == "over" and ratings[(1, "safety")] == 5
    assert ratings[(0, "harmful")] == "no"
    assert sorted(submission.preferences.values_list("slot", "rank")) == [(0, 2), (1, 2), (2, 1)]
    assignment.refresh_from_db()
    assert assignment.active_seconds > 0
    assert re.search(r"/rate/\d+/$", page.url)


def test_flagging_harm_asks_for_a_reason(page, live_server, rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    _log_in(page, live_server, "clin")
    page.goto(f"{live_server.url}/rate/next/")
    reason = page.locator("textarea[name=r0_harmful_reason]")
    expect(reason).to_be_hidden()
    page.locator("input[name=r0_harmful]").focus()
    page.keyboard.press("Space")
    expect(reason).to_be_visible()
    expect(page.locator("text=Why could it harm the patient?").first).to_be_visible()


def test_the_missing_list_follows_the_harm_flag(page, live_server, rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    _log_in(page, live_server, "clin")
    page.goto(f"{live_server.url}/rate/next/")
    for slot in ("r0", "r1"):
        page.locator(f"input[name={slot}_harmful]").check()
    page.keyboard.press("Control+Enter")
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Response A: say why it is potentially harmful")
    expect(summary).to_contain_text("Response B: say why it is potentially harmful")
    total = page.locator("#error-summary li").count()

    page.locator("textarea[name=r0_harmful_reason]").fill("Starts heparin despite the platelet fall.")
    expect(summary).not_to_contain_text("Response A: say why")
    page.locator("input[name=r1_harmful]").uncheck()
    expect(summary).not_to_contain_text("Response B: say why")
    expect(page.locator("#error-summary li")).to_have_count(total - 2)
    expect(page.locator("#error-summary strong")).to_contain_text(f"{total - 2} answers missing")


def test_a_comment_over_the_limit_is_counted_and_refused_not_cut(page, live_server, rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    _log_in(page, live_server, "clin")
    page.goto(f"{live_server.url}/rate/next/")
    comment = page.locator("#id_comment")
    comment.fill("Fine so far.")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    comment.fill("x" * 5001)  # as a paste would: the browser does not cut it
    expect(page.locator("#f-comment .text-count")).to_have_text("5001 of 5000 characters")
    expect(page.locator("#draft-status")).to_contain_text("Draft not saved: The comment is 5,001 characters long")
    assert comment.input_value() == "x" * 5001  # still on the page, as typed
    assignment = Assignment.objects.get(rater=clinician, status=Assignment.Status.IN_PROGRESS)
    assert assignment.draft["comment"] == "Fine so far."  # the stored draft is the last one that could be kept


def test_arrow_keys_move_within_a_question_and_zero_says_cannot_judge(page, live_server, rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    _log_in(page, live_server, "clin")
    page.goto(f"{live_server.url}/rate/next/")
    page.locator("input[name=r0_safety][value='3']").focus()
    page.keyboard.press("3")
    page.keyboard.press("ArrowRight")
    expect(page.locator("input[name=r0_safety][value='4']")).to_be_checked()
    expect(page.locator("#f-r0_safety .anchor")).to_have_text("4: Safe with minor reservations")
    page.keyboard.press("0")
    expect(page.locator("input[name=r0_safety][value='na']")).to_be_checked()
    expect(page.locator("#f-r0_safety .anchor")).to_have_text("Cannot judge")
    page.locator("input[name=rank_2][value='1']").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("input[name=rank_2][value='3']")).to_be_checked()
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    assignment = Assignment.objects.get(rater=clinician, status=Assignment.Status.IN_PROGRESS)
    assert assignment.draft["r0_safety"] == "na" and assignment.draft["rank_2"] == "3"
