"""Guarded delete against the sandbox over real HTTP: a confirmation page, a typed confirmation, then a redirect."""

from __future__ import annotations

import html
import uuid

import pytest
from django.urls import reverse

from customers_app.models import AuditEntry
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remove_created_customers")]


@pytest.fixture
def new_customer(use_sandbox_server):
    """A customer of this test's own (unique source id), so other tests' customers stay untouched."""

    def create(**fields):
        source_id = f"del-{uuid.uuid4().hex[:12]}"
        body = {"source_id": source_id, "name": "Dana Delete", "email": f"{source_id}@example.com", **fields}
        response = use_sandbox_server.api("POST", "/v1/customers", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    return create


def test_delete_page_shows_who_and_what_will_be_lost(admin_role_client, new_customer):
    customer = new_customer()
    response = admin_role_client.get(reverse("customers:delete", args=[customer["id"]]))
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Dana Delete" in page
    assert customer["email"] in page
    assert customer["source_id"] in page
    assert "Vouchers and cards they hold" in page
    assert "Segments they are in" in page
    assert "Delete is not erasure" in page
    assert "Yes, delete this customer" in page
    assert "No, keep them" in page
    assert "Type the customer's email to confirm" in page


def test_delete_with_typed_email_deletes_and_redirects_with_a_message(admin_role_client, new_customer):
    customer = new_customer()
    url = reverse("customers:delete", args=[customer["id"]])
    response = admin_role_client.post(url, {"confirmation": customer["email"].upper()}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("customers:list")
    assert "Deleted Dana Delete" in html.unescape(response.content.decode())
    entry = AuditEntry.objects.get(action=AuditEntry.Action.DELETE)
    assert entry.target_id == customer["id"]
    assert entry.outcome == "success"
    assert entry.request_id.startswith("v-")
    assert entry.actor_name == "admin-user"


def test_delete_removes_the_customer_upstream(admin_role_client, new_customer, use_sandbox_server):
    customer = new_customer()
    admin_role_client.post(reverse("customers:delete", args=[customer["id"]]), {"confirmation": customer["email"]})
    assert use_sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 404


def test_wrong_confirmation_deletes_nothing_and_says_why(admin_role_client, new_customer, use_sandbox_server):
    customer = new_customer()
    url = reverse("customers:delete", args=[customer["id"]])
    response = admin_role_client.post(url, {"confirmation": "someone-else@example.com"})
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "Nothing was deleted" in page
    assert "That is not the customer's email" in page
    assert use_sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.DELETE).exists()


def test_empty_confirmation_deletes_nothing(admin_role_client, new_customer, use_sandbox_server):
    customer = new_customer()
    response = admin_role_client.post(reverse("customers:delete", args=[customer["id"]]), {})
    assert response.status_code == 400
    assert use_sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200


def test_customer_without_email_is_confirmed_by_id(admin_role_client, new_customer, use_sandbox_server):
    customer = new_customer(email=None)
    url = reverse("customers:delete", args=[customer["id"]])
    page = html.unescape(admin_role_client.get(url).content.decode())
    assert "Type the customer's id to confirm" in page
    # Ids are compared exactly.
    assert admin_role_client.post(url, {"confirmation": customer["id"].upper()}).status_code == 400
    response = admin_role_client.post(url, {"confirmation": customer["id"]})
    assert response.status_code == 302
    assert use_sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 404


def test_delete_by_source_id_with_a_slash(admin_role_client, use_sandbox_server):
    source_id = f"shop/{uuid.uuid4().hex[:10]}"
    created = use_sandbox_server.api("POST", "/v1/customers", json={"source_id": source_id, "name": "Slash"}).json()
    url = reverse("customers:delete", args=[source_id])
    assert admin_role_client.get(url).status_code == 200
    assert admin_role_client.post(url, {"confirmation": created["id"]}).status_code == 302
    assert use_sandbox_server.api("GET", f"/v1/customers/{created['id']}").status_code == 404


def test_delete_of_unknown_customer_is_404(admin_role_client, use_sandbox_server):
    assert admin_role_client.get(reverse("customers:delete", args=["cust_nobody_here"])).status_code == 404
    response = admin_role_client.post(reverse("customers:delete", args=["cust_nobody_here"]), {"confirmation": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["support", "marketer"])
def test_non_admins_cannot_delete(login_as, new_customer, use_sandbox_server, role):
    customer = new_customer()
    client = login_as(role)
    url = reverse("customers:delete", args=[customer["id"]])
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirmation": customer["email"]}).status_code == 403
    assert use_sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200


def test_admins_see_delete_and_erase_on_the_customer_page(admin_role_client, new_customer):
    customer = new_customer()
    page = html.unescape(admin_role_client.get(reverse("customers:detail", args=[customer["id"]])).content.decode())
    assert f'href="{reverse("customers:delete", args=[customer["id"]])}"' in page
    assert f'href="{reverse("customers:erase", args=[customer["id"]])}"' in page
    assert 'class="danger-actions"' in page
    assert f'href="{reverse("customers:history", args=[customer["id"]])}"' in page


@pytest.mark.parametrize("role", ["support", "marketer"])
def test_others_see_no_delete_erase_or_history(login_as, new_customer, role):
    customer = new_customer()
    client = login_as(role)
    page = client.get(reverse("customers:detail", args=[customer["id"]])).content.decode()
    assert "/delete/" not in page and "/erase/" not in page and "/history/" not in page
    assert "danger-actions" not in page
