"""An agent filters the list in a real browser: results change in place, the URL follows, back works."""

from __future__ import annotations

import re


def test_filter_by_city_updates_results_and_url_then_back_from_a_customer(login_page, sandbox_server):
    page = login_page("support")
    page.goto("/customers/")
    customers = sandbox_server.api("GET", "/v1/customers", params={"limit": 100}).json()["customers"]
    city = next(c["address"]["city"] for c in customers if c.get("address") and c["address"].get("city"))
    expected = [
        c["id"]
        for c in sandbox_server.api("GET", "/v1/customers", params={"city": city, "limit": 25}).json()["customers"]
    ]

    page.evaluate("window.__sameDocument = true")  # survives only if nothing reloads the page
    page.get_by_label("City", exact=True).fill(city)
    page.wait_for_url(re.compile(r"\?city=[^&]+&limit=25$"))  # empty filters stay out of the URL
    page.wait_for_function(
        "expected => [...document.querySelectorAll('tr[data-customer-id]')].map(r => r.dataset.customerId)"
        ".join() === expected.join()",
        arg=expected,
    )
    assert page.evaluate("window.__sameDocument") is True
    filtered_url = page.url

    page.locator(f'tr[data-customer-id="{expected[0]}"] a').click()
    page.wait_for_url(f"**/customers/{expected[0]}/")
    page.go_back()
    page.wait_for_url(filtered_url)
    ids = page.locator("tr[data-customer-id]").evaluate_all("rows => rows.map(r => r.dataset.customerId)")
    assert ids == expected
    assert page.get_by_label("City", exact=True).input_value() == city


def test_slash_focuses_the_jump_box_and_it_opens_a_customer(login_page, sandbox_server):
    page = login_page("support")
    customer = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["customers"][0]
    page.goto("/customers/")
    page.locator("body").press("/")
    assert page.evaluate("document.activeElement.id") == "jump-q"
    page.keyboard.type(customer["source_id"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/customers/{customer['id']}/")
