"""The dashboard's plain and style-controlled leaderboards in a real browser, WCAG 2.1
A/AA and axe's best practices included."""

import pytest
from playwright.sync_api import expect

from annotations.services.aggregation import study_aggregate
from tests.annotations.views.test_dashboard_leaderboards import _styled
from tests.browser.axe import WCAG_21_AA, axe_violations, violations_report
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_leaderboards_show_side_by_side_and_pass_axe(page, live_server, rated_submissions, researcher,
                                                    output_dir):
    study_aggregate(study=_styled(rated_submissions), n_boot=50)
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/studies/{rated_submissions.slug}/dashboard/")
    board = page.locator("#leaderboards")
    expect(board.get_by_role("columnheader", name="Plain [95% CI]")).to_be_visible()
    expect(board.get_by_role("columnheader", name="Style-controlled [95% CI]")).to_be_visible()
    expect(board.get_by_role("rowheader", name="BehaviorSFT")).to_be_visible()
    expect(board).to_contain_text("What style control means")
    board.screenshot(path=str(output_dir / "dashboard-leaderboards.png"))
    violations = axe_violations(page, tags=(*WCAG_21_AA, "best-practice"))
    assert not violations, violations_report(violations)
