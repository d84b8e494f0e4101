"""An admin erases a customer by following the guarded flow in a real browser; a support agent sees no such control."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("remove_created_customers")


def _customer(sandbox_server, **fields) -> dict:
    tag = uuid.uuid4().hex[:10]
    body = {"source_id": f"browser-erase-{tag}", "name": f"Brenda Browser {tag}", "email": f"brenda.{tag}@example.com"}
    response = sandbox_server.api("POST", "/v1/customers", json=body | fields)
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_erases_a_customer_through_the_guarded_flow(login_page, sandbox_server):
    customer = _customer(sandbox_server)
    page = login_page("admin")
    page.goto(f"/customers/{customer['id']}/")
    page.get_by_role("group", name="Dangerous actions").get_by_role("button", name="Erase (GDPR)").click()
    page.wait_for_url(f"**/customers/{customer['id']}/erase/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Erase Brenda Browser")
    assert page.locator(f'tr[data-customer-id="{customer["id"]}"]').count() == 1

    page.get_by_label("Request reference").fill("GDPR-BROWSER-1")
    page.get_by_label("Requested by").select_option("data_subject")
    page.get_by_label("Reason").fill("Right to erasure, GDPR art. 17(1)(a)")
    # A wrong confirmation first: nothing happens, and the page says why.
    page.get_by_label("Type the email to confirm the erasure").fill("someone.else@example.com")
    page.get_by_role("button", name="Yes, erase this customer").click()
    page.wait_for_url(f"**/customers/{customer['id']}/erase/")
    assert "Nothing was erased" in page.get_by_role("alert").first.inner_text()
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200

    page.get_by_label("Type the email to confirm the erasure").fill(customer["email"])
    page.get_by_role("button", name="Yes, erase this customer").click()
    page.wait_for_url(re.compile(r"/erasures/\d+/$"))
    assert "Erased 1 customer record for request GDPR-BROWSER-1" in page.locator("#alerts").inner_text()
    receipts = page.get_by_test_id("receipts").inner_text()
    assert customer["id"] in receipts and "Erased" in receipts
    body = page.locator("main").inner_text()
    assert customer["email"] not in body and customer["name"] not in body
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 404

    page.get_by_role("link", name="Privacy requests", exact=True).click()
    assert page.get_by_test_id("erasures").get_by_role("link", name="GDPR-BROWSER-1").count() == 1


def test_no_keep_them_leaves_the_customer_alone(login_page, sandbox_server):
    customer = _customer(sandbox_server)
    page = login_page("admin")
    page.goto(f"/customers/{customer['id']}/delete/")
    page.get_by_role("button", name="No, keep them").click()
    page.wait_for_url(f"**/customers/{customer['id']}/")
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200


def test_support_sees_no_delete_or_erase_control(login_page, sandbox_server):
    customer = _customer(sandbox_server)
    page = login_page("support")
    page.goto(f"/customers/{customer['id']}/")
    page.get_by_role("heading", level=1).wait_for()
    assert page.get_by_role("button", name="Edit").count() == 1
    for name in ("Delete", "Erase (GDPR)", "History", "Audit", "Privacy requests"):
        for role in ("link", "button", "tab"):
            assert page.get_by_role(role, name=name, exact=True).count() == 0, name
    assert page.locator('a[href$="/delete/"], a[href$="/erase/"], a[href$="/history/"]').count() == 0
    assert page.get_by_role("group", name="Dangerous actions").count() == 0
    response = page.goto(f"/customers/{customer['id']}/erase/")
    assert response.status == 403
