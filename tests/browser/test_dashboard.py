"""The researcher dashboard draws its plotly figures in a real browser."""

import pytest
from playwright.sync_api import expect

from annotations.services.aggregation import study_aggregate
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_draws_every_figure(page, live_server, rated_submissions, researcher, output_dir):
    study_aggregate(study=rated_submissions, n_boot=100)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/studies/{rated_submissions.slug}/dashboard/")
    for key in ("means", "distribution", "radar", "wins", "raters"):
        expect(page.locator(f"#plot-{key} .main-svg").first).to_be_visible()
    expect(page.locator("#plot-means .modebar-btn[data-title='Download SVG']")).to_have_count(1)
    page.screenshot(path=str(output_dir / "dashboard.png"), full_page=True)
    assert errors == []
