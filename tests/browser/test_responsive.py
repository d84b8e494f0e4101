"""At a phone's width (360 px) nothing spills sideways: wide tables scroll inside their own box."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/customers/", "detail", "/customers/import/", "/jobs/", "/audit/"])
def test_pages_fit_a_phone_screen(login_page, sandbox_server, path):
    page = login_page("admin")
    page.set_viewport_size({"width": 360, "height": 740})
    if path == "detail":
        customer = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["customers"][0]
        path = f"/customers/{customer['id']}/"
    page.goto(path)
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{path} is {overflow}px wider than the screen"
    # The jump box is still there and usable.
    page.locator("#jump-q").fill("x")


def test_on_a_phone_the_filters_start_folded_unless_in_use(login_page):
    page = login_page("support")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/customers/")
    assert page.locator("details.filter-panel").evaluate("panel => panel.open") is False
    assert page.locator("tr[data-customer-id]").first.is_visible()
    page.locator("details.filter-panel summary").click()
    assert page.get_by_label("City", exact=True).is_visible()
    page.goto("/customers/?city=Brno")
    assert page.locator("details.filter-panel").evaluate("panel => panel.open") is True
