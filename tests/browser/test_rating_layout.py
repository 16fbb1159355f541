"""The rating page fits the work: on a laptop the case stays pinned beside the responses
and the ranking stays in view; on a phone everything fits the width, the tap targets are
big enough and the header with the progress stays on screen. With two responses the
ranking is one question, A, a tie or B, that posts ranks."""

import pytest
from playwright.sync_api import expect

from annotations.models import Assignment, Case, Rating, Response, Submission
from annotations.services.planner import assignments_plan
from annotations.services.raters import study_rater_acknowledge_instructions
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WIDE_LABS = {"title": "Daily labs", "columns": ["test", *[f"day {d} (ward round)" for d in range(1, 15)]],
             "rows": [["platelets", *[str(260 - 12 * d) for d in range(14)]],
                      ["creatinine", *[str(70 + d) for d in range(14)]]]}
LONG_TURNS = [{"speaker": f"Dr. Speaker {i}", "role": "attending" if i % 2 else "nurse",
               "text": f"Turn {i}: the platelet count is falling again today and the team discusses whether to "
                       f"keep the heparin infusion running overnight or switch."} for i in range(14)]
MARKDOWN_RESPONSE = ("**Hold the heparin** before the 18:00 dose.\n\n"
                     "| test | day 1 | day 2 | day 3 | day 4 | day 5 | day 6 | day 7 | day 8 | day 9 | day 10 |\n"
                     "|---|---|---|---|---|---|---|---|---|---|---|\n"
                     "| platelets (x10^9/L) | 260 | 248 | 236 | 224 | 212 | 200 | 188 | 176 | 164 | 152 |\n\n"
                     "- Send a PF4 antibody test\n- Start argatroban if it is positive\n\n" + "Watch closely. " * 40)


def _log_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", "clin")
    page.fill("#id_password", "pw-for-tests-123")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("Welcome, clin")


def _long_case_study(rated_study, clinician):
    """rated_study (3 arms) whose cases are long, with a wide lab table, and whose
    responses are Markdown with a table, planned for ``clinician``, who has read the
    study's instructions."""
    Case.objects.filter(study=rated_study).update(turns=LONG_TURNS, tables=[WIDE_LABS])
    Response.objects.filter(case__study=rated_study).update(text=MARKDOWN_RESPONSE)
    rated_study.instructions = "Read the **whole** conversation before rating."
    rated_study.save()
    assignments_plan(study=rated_study, raters=[clinician])
    study_rater_acknowledge_instructions(study=rated_study, rater=clinician)
    return rated_study


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not on the page"
    return box


def test_on_a_laptop_the_case_stays_beside_the_responses_and_the_ranking_in_view(
        browser, live_server, rated_study, clinician, output_dir):
    study = _long_case_study(rated_study, clinician)
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/rate/next/")
    expect(page.locator("h1")).to_have_text(f"{study.name}: Case 1 of 6")
    page.mouse.move(0, 0)  # nothing hovered

    case, responses, ranking = _box(page, ".rate-layout > .case"), _box(page, ".responses"), _box(page, "#ranking")
    assert case["x"] + case["width"] <= responses["x"], "the case is a column left of the responses"
    assert case["y"] < responses["y"] + responses["height"] and responses["y"] < case["y"] + case["height"]
    tops = [_box(page, f"#resp-{letter}")["y"] for letter in "ABC"]
    assert max(tops) - min(tops) < 2, "the three responses sit side by side"
    assert ranking["y"] + ranking["height"] <= responses["y"] + LAPTOP["height"], "the ranking is near the responses"
    assert ranking["y"] + ranking["height"] <= LAPTOP["height"], "the ranking is on screen"

    # Each scale's endpoint anchors are shown without hovering, the chosen one's in full.
    ends = page.locator("#f-r0_realism .ends")
    expect(ends).to_be_visible()
    expect(ends).to_contain_text("1 = Nobody on a clinical team would say this")
    expect(ends).to_contain_text("5 = Exactly what a skilled colleague would say")
    header_height = _box(page, ".rate-header")["height"]
    page.locator("input[name=r0_realism][value='4']").check()
    expect(page.locator("#f-r0_realism .anchor")).to_have_text("4: Like a competent colleague")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    assert _box(page, ".rate-header")["height"] == header_height, "the header keeps its height as the draft saves"
    page.screenshot(path=str(output_dir / "rating-layout-laptop.png"))

    # Scrolled down the responses, the case and the ranking are still on screen.
    page.evaluate("window.scrollBy(0, 900)")
    page.wait_for_function("window.scrollY >= 800")
    case, ranking = _box(page, ".rate-layout > .case"), _box(page, "#ranking")
    assert 0 <= case["y"] and case["y"] + case["height"] <= LAPTOP["height"], "the case stays pinned in view"
    assert 0 <= ranking["y"] and ranking["y"] + ranking["height"] <= LAPTOP["height"], "the ranking stays in view"
    page.screenshot(path=str(output_dir / "rating-layout-laptop-scrolled.png"))

    # The instructions open over the page, which does not move.
    # (A click where the rater sees it: Playwright's click() would first scroll the
    # element's place in the page into view.)
    scrolled = page.evaluate("window.scrollY")
    summary = _box(page, "details#instructions summary")
    page.mouse.click(summary["x"] + summary["width"] / 2, summary["y"] + summary["height"] / 2)
    panel = page.locator("#instructions .instructions-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("You see 3 responses to each case, labelled A, B and C.")
    expect(panel.locator("strong").last).to_have_text("whole")
    assert page.evaluate("window.scrollY") == scrolled
    assert panel.bounding_box()["y"] >= 0
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    context.close()


def test_on_a_phone_nothing_is_wider_than_the_screen_and_the_progress_stays_on_top(
        browser, live_server, rated_study, clinician, output_dir):
    study = _long_case_study(rated_study, clinician)
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/rate/next/")
    expect(page.locator("h1")).to_have_text(f"{study.name}: Case 1 of 6")

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The wide tables are there, and scroll inside their own box.
    for selector in (".case .table-scroll", ".response-text .table-scroll"):
        wide = page.locator(selector).first
        assert wide.evaluate("box => box.scrollWidth > box.clientWidth"), selector
    topbar = _box(page, ".topbar")
    assert topbar["height"] <= 60, "the top bar stays one line"
    page.screenshot(path=str(output_dir / "rating-layout-phone.png"))

    # Every rating button is a tap target of at least 44 x 44 px.
    sizes = page.eval_on_selector_all("#rating-form .opt", "labels => labels.map(l => l.getBoundingClientRect())"
                                      ".map(r => [r.width, r.height])")
    assert sizes and min(w for w, _ in sizes) >= 44 and min(h for _, h in sizes) >= 44

    # Far down the page, the header with the case's place in the study is still on top.
    page.locator("#f-r1_safety").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 1000
    header = _box(page, ".rate-header")
    assert abs(header["y"]) < 1
    expect(page.locator(".rate-header h1")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(output_dir / "rating-layout-phone-scrolled.png"))
    context.close()


@pytest.fixture
def pair_study(db):
    """An open study of two arms and two cases, one response per arm."""
    study = StudyFactory(name="Pairs", slug="pairs")
    arms = [StudyArmFactory(study=study, arm__name=name, position=i).arm for i, name in enumerate(["One", "Two"])]
    for n in range(2):
        case = CaseFactory(study=study, external_id=f"pair-{n}")
        for arm in arms:
            ResponseFactory(case=case, arm=arm, text=f"Answer of {arm.name} to case {n}.")
    return study


def _answer_scales(page, slots=(0, 1), likert="4") -> None:
    for slot in slots:
        for key in ("realism", "proactivity", "helpfulness", "safety"):
            page.locator(f"input[name=r{slot}_{key}][value='{likert}']").check()
        page.locator(f"input[name=r{slot}_intervention][value='appropriate']").check()


def test_with_two_responses_the_ranking_asks_which_is_better_and_posts_ranks(
        page, live_server, pair_study, clinician):
    assignments_plan(study=pair_study, raters=[clinician])
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/rate/next/")
    expect(page.locator("#rank-title")).to_have_text("Which is better overall?")
    expect(page.locator("[data-rank-fields]")).to_be_hidden()  # the rank fields are the fallback without a script

    _answer_scales(page)
    page.locator("input[name=r0_realism]").first.focus()
    page.keyboard.press("0")  # cannot judge
    expect(page.locator("input[name=r0_realism][value='na']")).to_be_checked()
    expect(page.locator("#f-r0_realism .anchor")).to_have_text("Cannot judge")
    page.get_by_label("Response B is better").check()
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    page.reload()
    expect(page.get_by_label("Response B is better")).to_be_checked()  # restored from the draft's ranks
    expect(page.locator("input[name=r0_realism][value='na']")).to_be_checked()

    page.get_by_label("Tie: as good as each other").check()
    page.click("#submit-button")
    expect(page.locator(".rate-header")).to_contain_text("Case 2 of 2")
    submission = Submission.objects.get()
    assert sorted(submission.preferences.values_list("slot", "rank")) == [(0, 1), (1, 1)]
    unsure = Rating.objects.get(submission=submission, slot=0, dimension="realism")
    assert unsure.score is None and unsure.choice == "cannot_judge"

    # Nothing chosen: one line says what is missing and leads to the question.
    page.click("#submit-button")
    summary = page.locator("#error-summary")
    expect(summary.locator("a[href='#f-better']")).to_have_count(1)
    expect(summary).to_contain_text("Say which response is better overall")
    missing = summary.locator("li").count()
    page.get_by_label("Response A is better").check()
    expect(summary.locator("li")).to_have_count(missing - 1)
    _answer_scales(page)
    page.click("#submit-button")
    expect(page.locator("h1")).not_to_contain_text("Case 2 of 2")
    last = Submission.objects.exclude(pk=submission.pk).get()
    assert sorted(last.preferences.values_list("slot", "rank")) == [(0, 1), (1, 2)]
    assert Assignment.objects.filter(status=Assignment.Status.SUBMITTED).count() == 2


def test_without_a_script_two_responses_are_ranked_with_the_rank_fields(browser, live_server, pair_study, clinician):
    assignments_plan(study=pair_study, raters=[clinician])
    context = browser.new_context(viewport=LAPTOP, java_script_enabled=False)
    page = context.new_page()
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/rate/next/")
    expect(page.locator("#f-better")).to_be_hidden()
    expect(page.locator("#f-rank_0")).to_be_visible()
    expect(page.locator("#f-rank_1")).to_be_visible()
    context.close()
