import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
OUTPUT_DIR = Path(__file__).resolve().parents[2] / "test-output"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are plain synchronous ones.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR


@pytest.fixture
def shots(output_dir):
    """Save a page's screenshot by name: into docs/screenshots/ (the README's) with
    EVALPORTAL_SCREENSHOTS=docs (`make screenshots`), else into test-output/. The whole
    page, or the viewport alone where sticky parts would repeat down a full-page capture."""
    target = DOCS_SCREENSHOTS if os.environ.get("EVALPORTAL_SCREENSHOTS") == "docs" else output_dir
    target.mkdir(parents=True, exist_ok=True)
    return lambda page, name, full_page=True: page.screenshot(path=str(target / f"{name}.png"), full_page=full_page)
