"""Hospital sign-in in a real browser: an invited clinician asks for their cases, signs in
on the hospital's pages (oidc-provider's), comes back to the portal under the portal's
security headers, rates, and signs out."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from annotations.services.invitations import invitations_create
from annotations.services.planner import assignments_plan
from tests.browser.axe import axe_violations, violations_report
from tests.oidc_helpers import CALLBACK_PATH, running_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
INVITED = "invited.clinician@stmarys.example"


@pytest.fixture(scope="module")
def provider(live_server):
    with running_provider([live_server.url + CALLBACK_PATH]) as provider:
        yield provider


def test_an_invited_clinician_signs_in_with_the_hospital_and_rates(page, live_server, provider, settings,
                                                                   rated_study, researcher):
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    invited = invitations_create(people=[("Dr Ines Invited", INVITED)], actor=researcher,
                                 base_url=live_server.url)[0].invitation
    assignments_plan(study=rated_study, raters=[invited.user])
    # The provider's development pages load a web font; this machine has no way out.
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())

    page.goto(f"{live_server.url}/rate/")
    expect(page.locator("h1")).to_have_text("Log in")
    page.get_by_role("link", name="Sign in with St Mary's").click()

    page.fill("input[name=login]", "invited")  # the provider's own login page
    page.fill("input[name=password]", "hospital-password")
    page.click("button[type=submit]")
    page.get_by_role("button", name="Continue").click()  # its consent page

    expect(page.locator("h1")).to_have_text(f"Welcome, {INVITED}")
    assert page.url == f"{live_server.url}/rate/"
    page.click("#start-button")
    expect(page.locator(".rate-header")).to_contain_text("Case 1 of 6")
    invited.refresh_from_db()
    assert invited.accepted_at is not None

    page.get_by_role("button", name="Log out").click()
    expect(page.locator("h1")).to_have_text("Log in")
    page.goto(f"{live_server.url}/rate/")
    expect(page.locator("h1")).to_have_text("Log in")


def test_someone_the_claims_give_no_role_is_told_why_on_pages_that_pass_axe(page, live_server, provider,
                                                                            settings):
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    page.goto(f"{live_server.url}/accounts/login/")
    assert violations_report(axe_violations(page)) == ""
    page.get_by_role("link", name="Sign in with St Mary's").click()
    page.fill("input[name=login]", "porter")
    page.fill("input[name=password]", "hospital-password")
    page.click("button[type=submit]")
    page.get_by_role("button", name="Continue").click()

    expect(page.locator("h1")).to_have_text("You are not signed in")
    expect(page.locator("#sign-in-refusal")).to_contain_text("does not give you a role in this portal")
    assert violations_report(axe_violations(page)) == ""
    assert not get_user_model().objects.filter(email__iexact="porter@stmarys.example").exists()
