"""Steps the browser tests share."""

from playwright.sync_api import expect


def log_in(page, base_url: str, username: str, password: str = "pw-for-tests-123", *,
           landing: str = "Studies") -> None:
    """Sign in through the login page and wait for the page the role lands on (the
    studies list; a clinician's is headed "Welcome, <name>")."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(landing)


def accept_invitation(page, link: str, password: str) -> None:
    """Open an invitation's one-time link and set the password it asks for."""
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Welcome to evalportal")
    page.fill("#id_new_password1", password)
    page.fill("#id_new_password2", password)
    page.click("#invitation-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Your password is set")
