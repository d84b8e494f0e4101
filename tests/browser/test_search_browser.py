"""An agent types part of a phone number read out on a call and opens the customer, in a real browser."""

from __future__ import annotations

import re
import time

import requests


def indexed(sandbox_server, fragment: str, customer_id: str, session: requests.Session) -> bool:
    html = session.get(sandbox_server.url + "/customers/", params={"q": fragment}, timeout=30).text
    return f'data-customer-id="{customer_id}"' in html


def test_a_phone_fragment_finds_the_customer_as_you_type(login_page, sandbox_server):
    page = login_page("support")
    customers = sandbox_server.api("GET", "/v1/customers", params={"limit": 100}).json()["customers"]
    person = next(c for c in customers if c.get("phone") and len(re.sub(r"\D", "", c["phone"])) >= 9)
    digits = re.sub(r"\D", "", person["phone"])[-9:]
    fragment = f"{digits[:3]} {digits[3:6]}"  # as the caller reads it out: "600 111"

    # The served product's worker loads the index at start; wait until it holds the seeded customers.
    session = requests.Session()
    session.cookies.update({c["name"]: c["value"] for c in page.context.cookies()})
    deadline = time.monotonic() + 90
    while not indexed(sandbox_server, fragment, person["id"], session):
        assert time.monotonic() < deadline, "the search index did not finish its first load"
        time.sleep(1)

    page.goto("/customers/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Search name, email, phone, source id or id").press_sequentially(fragment, delay=60)
    row = page.locator(f'table[data-search="results"] tr[data-customer-id="{person["id"]}"]')
    row.wait_for()
    assert page.evaluate("window.__sameDocument") is True  # results came in place, as you type
    page.wait_for_url(re.compile(r"[?&]q="))  # the search is a shareable URL
    assert row.locator("mark").count() >= 1
    row.locator("a").first.click()
    page.wait_for_url(f"**/customers/{person['id']}/")
    assert person["phone"] in page.content()
