"""The dashboard of a rated study shows, in a real browser, the automatic reading against
the clinicians (per arm and overall, with the judge's planted reading beside the terms'),
says which reading the automatic metrics use, and switches it to the judge's."""

import pytest
from playwright.sync_api import expect

from annotations.services.aggregation import study_aggregate
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_broker")]


def test_dashboard_shows_the_reading_against_the_clinicians(page, live_server, planted_judge, researcher, output_dir):
    study = planted_judge.study
    study_aggregate(study=study, n_boot=100)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, "res")
    page.goto(f"{live_server.url}/studies/{study.slug}/dashboard/")

    section = page.locator("#reading-agreement")
    expect(section.locator("h2")).to_have_text("The automatic reading against the clinicians")
    terms = section.locator("table[data-reading='automatic']")
    expect(terms.locator("tbody tr")).to_have_count(4)  # three arms and the overall
    overall = terms.locator("tbody tr.overall td")
    expect(overall.nth(0)).to_have_text("all arms")
    expect(overall.nth(1)).to_have_text("36 (18, 6)")
    expect(overall.nth(2)).to_contain_text("0.56 [")  # 20 of 36 answers agree
    expect(overall.nth(5)).to_have_text("1 of 6")  # credited responses flagged harmful
    expect(overall.nth(6)).to_have_text("1 of 12")
    baseline = terms.locator("tbody tr").first.locator("td")
    expect(baseline.nth(0)).to_have_text("Baseline")
    expect(baseline.nth(2)).to_contain_text("0.67 [")
    judge = section.locator("table[data-reading='judge']")
    expect(judge.locator("tbody tr.overall td").nth(1)).to_have_text("24 (12, 4)")
    expect(section.locator("h3").nth(1)).to_have_text(f"The LLM judge's planted reading, job #{planted_judge.pk}")
    expect(page.locator("#automatic-reading")).to_contain_text("read by the terms' reading (ConText)")
    page.locator("#reading-agreement").screenshot(path=str(output_dir / "dashboard-reading-agreement.png"))

    # the automatic metrics switch to the judge's reading
    page.select_option("#planted-reading-job", str(planted_judge.pk))
    page.locator("#planted-reading-form button").click()
    expect(page.locator(".messages")).to_contain_text("now read the planted problem from judge job")
    study_aggregate(study=study, n_boot=100)  # what the queued aggregation does
    page.reload()
    expect(page.locator("#automatic-reading")).to_contain_text(
        f"read by the LLM judge's planted reading, job #{planted_judge.pk}")
    expect(page.locator("#planted-reading-job")).to_have_value(str(planted_judge.pk))
    assert errors == []
