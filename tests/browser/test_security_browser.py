"""Case text is shown as text, never run; the pages pass their own Content-Security-Policy."""

import pytest
from playwright.sync_api import expect

from annotations.models import Case, Response
from annotations.services.aggregation import study_aggregate
from annotations.services.planner import assignments_plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">Dr. says hello'


def _collect_violations(page):
    page.add_init_script("""
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation',
            (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
    """)


def _login(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests-123")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")


def test_html_in_case_and_response_text_is_shown_not_run(page, live_server, rated_study, clinician):
    case = Case.objects.get(external_id="rc-0")
    case.turns = [{"speaker": "<b>Dr. X</b>", "role": "attending", "text": HOSTILE}]
    case.save()
    Response.objects.filter(case=case).update(text='<script>window.pwned = 3</script>Check <i>this</i>')
    Case.objects.exclude(pk=case.pk).filter(split="test").delete()
    assignments_plan(study=rated_study, raters=[clinician])
    _collect_violations(page)
    _login(page, live_server, "clin")
    page.goto(f"{live_server.url}/rate/next/")
    expect(page.locator(".utterance")).to_contain_text('<script>window.pwned = 1</script><img src="x"')
    expect(page.locator(".speaker").first).to_contain_text("<b>Dr. X</b>")
    expect(page.locator(".response-text").first).to_contain_text("<script>window.pwned = 3</script>Check <i>this</i>")
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert page.locator(".utterance img").count() == 0
    assert page.evaluate("window.__cspViolations") == []


def test_researcher_and_admin_pages_pass_the_csp(page, live_server, rated_submissions, admin_user):
    study_aggregate(study=rated_submissions, n_boot=50)
    _collect_violations(page)
    _login(page, live_server, "boss")
    for path in ("/studies/", f"/studies/{rated_submissions.slug}/", f"/studies/{rated_submissions.slug}/dashboard/",
                 f"/studies/{rated_submissions.slug}/jobs/", f"/studies/{rated_submissions.slug}/responses/",
                 "/admin/", "/admin/annotations/case/", "/admin/annotations/case/import/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__cspViolations") == [], path
