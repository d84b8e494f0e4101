"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, against the served product."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps dialling out on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium before the tests.")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI always runs these.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def login_page(browser, sandbox_server):
    """A function giving a fresh browser page logged in to the served dashboard as a demo role."""
    contexts = []

    def open_as(role: str):
        context = browser.new_context(base_url=sandbox_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(role)
        page.get_by_label("Password").fill(sandbox_server.demo_password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        if "/accounts/2fa/authenticate/" in page.url:
            # The demo admin's second step: a code of the authenticator app set up with DEMO_TOTP_SECRET.
            from django.conf import settings

            from tests.conftest import fresh_totp_code

            page.get_by_label("Code").fill(fresh_totp_code(settings.DEMO_TOTP_SECRET, (sandbox_server.url, role)))
            page.get_by_role("button", name="Sign In").click()
        page.wait_for_url("**/customers/**")
        return page

    yield open_as
    for context in contexts:
        context.close()
