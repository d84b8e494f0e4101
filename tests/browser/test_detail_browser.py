"""An agent opens a customer in a real browser: the profile at once, tabs in place, the URL follows."""

from __future__ import annotations

import re
import uuid

import pytest


def api_ids(sandbox_server, path: str, **params) -> list[str]:
    response = sandbox_server.api("GET", path, params={"limit": 25, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def customer_with_everything(sandbox_server) -> dict:
    """A seeded customer with activity, redeemables and segments."""
    for customer in sandbox_server.api("GET", "/v1/customers", params={"limit": 100}).json()["customers"]:
        base = f"/v1/customers/{customer['id']}"
        if all(api_ids(sandbox_server, f"{base}/{related}") for related in ("redeemables", "segments")):
            return customer
    pytest.fail("no seeded customer has both redeemables and segments")


def rows(page, selector: str, attribute: str) -> list[str]:
    return page.locator(selector).evaluate_all(f"rows => rows.map(r => r.dataset.{attribute})")


def wait_for_rows(page, selector: str, attribute: str, expected: list[str]) -> None:
    page.wait_for_function(
        "([selector, attribute, expected]) => [...document.querySelectorAll(selector)]"
        ".map(r => r.dataset[attribute]).join() === expected.join()",
        arg=[selector, attribute, expected],
    )


def watch_csp(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_open_a_customer_then_switch_tabs_in_place(login_page, sandbox_server):
    customer = customer_with_everything(sandbox_server)
    base = f"/v1/customers/{customer['id']}"
    page = login_page("support")
    problems = watch_csp(page)
    page.goto(f"/customers/{customer['id']}/")
    assert page.get_by_role("heading", level=1).inner_text() == (customer.get("name") or "(no name)")
    page.evaluate("window.__sameDocument = true")

    # The Activity panel loads by itself, without changing the URL.
    wait_for_rows(page, "tr[data-activity-id]", "activityId", api_ids(sandbox_server, f"{base}/activity"))
    assert page.url.endswith(f"/customers/{customer['id']}/")
    assert page.get_by_role("tab", name="Activity").get_attribute("aria-selected") == "true"

    page.get_by_role("tab", name="Redeemables").click()
    page.wait_for_url(f"**/customers/{customer['id']}/redeemables/")
    wait_for_rows(page, "tr[data-redeemable-id]", "redeemableId", api_ids(sandbox_server, f"{base}/redeemables"))
    assert page.get_by_role("tab", name="Redeemables").get_attribute("aria-selected") == "true"
    assert page.get_by_role("tab", name="Activity").get_attribute("aria-selected") == "false"

    page.get_by_role("tab", name="Segments").click()
    page.wait_for_url(f"**/customers/{customer['id']}/segments/")
    segments = sandbox_server.api("GET", f"{base}/segments").json()["data"]
    wait_for_rows(page, "li[data-segment-id]", "segmentId", [s["id"] for s in segments])
    link = page.locator(f'li[data-segment-id="{segments[0]["id"]}"] a')
    assert link.inner_text() == segments[0]["name"]
    assert page.evaluate("window.__sameDocument") is True

    page.go_back()
    page.wait_for_url(f"**/customers/{customer['id']}/redeemables/")
    wait_for_rows(page, "tr[data-redeemable-id]", "redeemableId", api_ids(sandbox_server, f"{base}/redeemables"))

    page.go_forward()
    page.wait_for_url(f"**/customers/{customer['id']}/segments/")
    page.locator(f'li[data-segment-id="{segments[0]["id"]}"] a').click()
    page.wait_for_url(re.compile(rf"/customers/\?segment_id={segments[0]['id']}$"))
    assert problems == []


def test_deep_link_to_a_tab_opens_the_page_with_that_tab(login_page, sandbox_server):
    customer = customer_with_everything(sandbox_server)
    page = login_page("support")
    page.goto(f"/customers/{customer['id']}/redeemables/")
    assert page.get_by_role("tab", name="Redeemables").get_attribute("aria-selected") == "true"
    expected = api_ids(sandbox_server, f"/v1/customers/{customer['id']}/redeemables")
    assert rows(page, "tr[data-redeemable-id]", "redeemableId") == expected
    assert page.locator("article.profile h1").is_visible()


def test_tabs_work_from_the_keyboard(login_page, sandbox_server):
    customer = customer_with_everything(sandbox_server)
    page = login_page("support")
    page.goto(f"/customers/{customer['id']}/activity/")
    page.get_by_role("tab", name="Activity").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/customers/{customer['id']}/redeemables/")
    page.wait_for_function(
        "document.activeElement && document.activeElement.id === 'tab-redeemables'"
        " && document.activeElement.getAttribute('aria-selected') === 'true'"
    )
    page.keyboard.press("End")
    page.wait_for_url(f"**/customers/{customer['id']}/segments/")
    page.keyboard.press("Home")
    page.wait_for_url(f"**/customers/{customer['id']}/activity/")


def test_activity_filters_and_load_more_stay_on_the_page(login_page, sandbox_server):
    customer = sandbox_server.api("POST", "/v1/customers", json={"source_id": f"browser-{uuid.uuid4()}"}).json()
    for index in range(27):
        sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json={"description": f"v{index}"})
    path = f"/v1/customers/{customer['id']}/activity"
    everything = api_ids(sandbox_server, path, limit=100)
    page = login_page("support")
    page.goto(f"/customers/{customer['id']}/")
    wait_for_rows(page, "tr[data-activity-id]", "activityId", everything[:25])
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Load more").click()
    wait_for_rows(page, "tr[data-activity-id]", "activityId", everything)
    assert page.get_by_role("button", name="Load more").count() == 0

    page.get_by_label("Event").select_option("customer.created")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/activity/\?.*type=customer\.created"))
    wait_for_rows(page, "tr[data-activity-id]", "activityId", api_ids(sandbox_server, path, type="customer.created"))
    assert page.evaluate("window.__sameDocument") is True


def test_unknown_customer_shows_the_404_page_with_the_jump_box(login_page):
    page = login_page("support")
    response = page.goto(f"/customers/nobody-{uuid.uuid4()}/")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text().startswith("No customer")
    assert page.locator("main .jump-box").count() == 1
