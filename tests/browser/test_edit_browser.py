"""Editing in a real browser: a change is saved, and a colleague's save is never silently undone."""

from __future__ import annotations

import uuid


def new_customer(sandbox_server, **fields) -> dict:
    body = {"source_id": f"browser-edit-{uuid.uuid4()}", **fields}
    return sandbox_server.api("POST", "/v1/customers", json=body).json()


def api_customer(sandbox_server, customer_id: str) -> dict:
    return sandbox_server.api("GET", f"/v1/customers/{customer_id}").json()


def test_edit_a_field_and_see_it_saved(login_page, sandbox_server):
    customer = new_customer(sandbox_server, name="Before Edit", phone="+48 100")
    page = login_page("support")
    page.goto(f"/customers/{customer['id']}/")
    page.get_by_role("button", name="Edit").click()
    page.wait_for_url(f"**/customers/{customer['id']}/edit/")
    page.get_by_label("Name", exact=True).fill("After Edit")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"**/customers/{customer['id']}/")
    assert page.get_by_role("heading", level=1).inner_text() == "After Edit"
    assert "Saved changes to Name." in page.get_by_role("status").first.inner_text()
    saved = api_customer(sandbox_server, customer["id"])
    assert (saved["name"], saved["phone"]) == ("After Edit", "+48 100")


def test_create_a_customer(login_page, sandbox_server):
    source_id = f"browser-create-{uuid.uuid4()}"
    page = login_page("marketer")
    page.goto("/customers/new/")
    page.get_by_label("Source id").fill(source_id)
    page.get_by_label("Name", exact=True).fill("Browser Made")
    page.get_by_label("Metadata key 1", exact=True).fill("plan")
    page.get_by_label("Value of metadata key 1").fill("pro")
    page.get_by_role("button", name="Create customer").click()
    created = api_customer(sandbox_server, source_id)
    page.wait_for_url(f"**/customers/{created['id']}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Browser Made"
    assert created["metadata"] == {"plan": "pro"}


def test_two_people_edit_different_fields_and_both_changes_survive(login_page, sandbox_server):
    customer = new_customer(sandbox_server, name="Shared", phone="000")
    first = login_page("support")
    second = login_page("admin")  # another browser context, another user
    for page in (first, second):
        page.goto(f"/customers/{customer['id']}/edit/")

    first.get_by_label("Name", exact=True).fill("Name From First")
    first.get_by_role("button", name="Save changes").click()
    first.wait_for_url(f"**/customers/{customer['id']}/")

    second.get_by_label("Phone").fill("+1 555 0199")
    second.get_by_role("button", name="Save changes").click()
    second.wait_for_url(f"**/customers/{customer['id']}/")
    assert "their changes were kept" in second.get_by_role("status").first.inner_text()
    assert second.get_by_role("heading", level=1).inner_text() == "Name From First"

    saved = api_customer(sandbox_server, customer["id"])
    assert (saved["name"], saved["phone"]) == ("Name From First", "+1 555 0199")


def test_two_people_edit_the_same_field_and_the_second_chooses(login_page, sandbox_server):
    customer = new_customer(sandbox_server, name="Contested", description="start")
    first = login_page("support")
    second = login_page("admin")
    for page in (first, second):
        page.goto(f"/customers/{customer['id']}/edit/")

    first.get_by_label("Name", exact=True).fill("First Wins")
    first.get_by_role("button", name="Save changes").click()
    first.wait_for_url(f"**/customers/{customer['id']}/")

    second.get_by_label("Name", exact=True).fill("Second Tries")
    second.get_by_label("Description").fill("second's note")
    second.get_by_role("button", name="Save changes").click()
    second.get_by_role("heading", name="Someone else changed this customer while you were editing").wait_for()
    row = second.locator('tr[data-field="name"]')
    assert "First Wins" in row.inner_text() and "Second Tries" in row.inner_text()
    # The other change is already saved, and the first person's name is still there.
    saved = api_customer(sandbox_server, customer["id"])
    assert (saved["name"], saved["description"]) == ("First Wins", "second's note")

    row.get_by_label("Keep theirs").check()
    second.get_by_role("button", name="Save my choices").click()
    second.wait_for_url(f"**/customers/{customer['id']}/")
    assert "Kept the other version of Name." in second.get_by_role("status").first.inner_text()
    assert api_customer(sandbox_server, customer["id"])["name"] == "First Wins"
