"""Every write through the dashboard lands in the audit trail: creates and edits (also failed), and guard stops."""

from __future__ import annotations

import html
import uuid

import pytest
from django.urls import reverse

from customers_app.erasure import identifier_digest
from customers_app.models import AuditEntry, ErasedIdentifier, ErasureRecord
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remove_created_customers")]


def create_data(**fields) -> dict:
    data = {"metadata-TOTAL_FORMS": "1", "metadata-INITIAL_FORMS": "0", "metadata-0-type": "text"}
    return data | fields


@pytest.fixture
def erased_person():
    """Someone erased earlier: only the keyed hashes of their email and source id are left."""
    tag = uuid.uuid4().hex[:10]
    email, source_id = f"gone.{tag}@example.com", f"gone-{tag}"
    record = ErasureRecord.objects.create(
        reference="GDPR-GUARD", requester="data_subject", reason="Art. 17", customer_ids=["cust_x"], outcome="completed"
    )
    ErasedIdentifier.objects.create(kind="email", digest=identifier_digest(email), erasure=record)
    ErasedIdentifier.objects.create(kind="source_id", digest=identifier_digest(source_id), erasure=record)
    return {"email": email, "source_id": source_id, "record": record}


@pytest.mark.usefixtures("use_sandbox_server")
def test_create_is_audited_with_the_new_id_values_and_request_id(marketer_client):
    source_id = f"audit-create-{uuid.uuid4().hex[:8]}"
    response = marketer_client.post("/customers/new/", create_data(source_id=source_id, name="Ada", city="Oslo"))
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditEntry.Action.CREATE)
    assert entry.target_id.startswith("cust_") and response["Location"] == f"/customers/{entry.target_id}/"
    assert entry.outcome == "success" and entry.request_id.startswith("v-")
    assert entry.actor_name == "marketer-user"
    assert entry.changes["name"] == {"before": None, "after": "Ada"}
    assert entry.changes["source_id"]["after"] == source_id
    assert "Ada" in entry.target_label


def test_edit_is_audited_with_before_and_after(support_client, use_sandbox_server):
    source_id = f"audit-edit-{uuid.uuid4().hex[:8]}"
    customer = use_sandbox_server.api("POST", "/v1/customers", json={"source_id": source_id, "name": "Before"}).json()
    from tests.views.test_edit import form_data

    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    data["name"] = "After"
    assert support_client.post(f"/customers/{customer['id']}/edit/", data).status_code == 302
    entry = AuditEntry.objects.get(action=AuditEntry.Action.EDIT)
    assert entry.target_id == customer["id"]
    assert entry.changes == {"name": {"before": "Before", "after": "After"}}
    assert entry.request_id.startswith("v-") and entry.actor_name == "support-user"
    # The customer's History tab shows it to an admin.
    admin = support_client
    from customers_app.management.commands.dashboard_user import set_user_role
    from tests.conftest import fully_signed_in

    fully_signed_in(admin, set_user_role("admin-history", "admin", "a-long-test-password")[0])
    page = html.unescape(admin.get(reverse("customers:history", args=[customer["id"]])).content.decode())
    assert "Before → After" in page and "support-user" in page


def test_a_failed_create_is_audited_with_the_request_id(settings, httpserver, marketer_client):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_IN_PROCESS = False
    httpserver.expect_request("/v1/customers/new-one", method="GET").respond_with_json(
        {"code": 404, "key": "not_found", "message": "Resource not found", "request_id": "v-1"}, status=404
    )
    httpserver.expect_request("/v1/customers", method="POST").respond_with_json(
        {"code": 400, "message": "Invalid payload", "details": "Quota exceeded", "request_id": "v-0123abc"},
        status=400,
    )
    response = marketer_client.post("/customers/new/", create_data(source_id="new-one", name="X"))
    assert response.status_code == 400
    entry = AuditEntry.objects.get(action=AuditEntry.Action.CREATE)
    assert (entry.outcome, entry.request_id, entry.target_id) == ("failed", "v-0123abc", "new-one")
    assert "Quota exceeded" in entry.detail


def test_a_failed_edit_is_audited(settings, httpserver, support_client):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_IN_PROCESS = False
    stored = {
        "id": "cust_stored", "source_id": "stored", "name": "Stored", "email": None, "metadata": {},
        "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-02T00:00:00.000Z",
        "summary": None, "loyalty": None, "referrals": None, "object": "customer",
    }  # fmt: skip
    httpserver.expect_request("/v1/customers/cust_stored", method="GET").respond_with_json(stored)
    httpserver.expect_request("/v1/customers/cust_stored", method="PUT").respond_with_json(
        {"code": 400, "message": "Invalid customer", "details": "phone is invalid", "request_id": "v-bad"}, status=400
    )
    from tests.views.test_edit import form_data

    data = form_data(support_client.get("/customers/cust_stored/edit/"))
    data["phone"] = "12"
    assert support_client.post("/customers/cust_stored/edit/", data).status_code == 400
    entry = AuditEntry.objects.get(action=AuditEntry.Action.EDIT)
    assert (entry.outcome, entry.request_id, entry.target_id) == ("failed", "v-bad", "cust_stored")
    assert entry.changes == {"phone": {"before": None, "after": "12"}}


# The re-creation guard on create -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["email", "source_id"])
def test_creating_an_erased_person_is_stopped(marketer_client, use_sandbox_server, erased_person, field):
    data = create_data(name="Back Again", **{field: erased_person[field]})
    response = marketer_client.post("/customers/new/", data)
    assert response.status_code == 409
    page = html.unescape(response.content.decode())
    assert "This person was erased" in page and "GDPR-GUARD" in page
    assert "Only an administrator can override this" in page
    listing = use_sandbox_server.api("GET", "/v1/customers", params={"email": erased_person["email"]}).json()
    assert listing["total"] == 0
    assert use_sandbox_server.api("GET", f"/v1/customers/{erased_person['source_id']}").status_code == 404
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome) == ("erasure_guard.blocked", "denied")


def test_an_admin_may_bring_an_erased_person_back_with_a_reason(admin_role_client, use_sandbox_server, erased_person):
    data = create_data(name="Back Again", email=erased_person["email"], source_id=erased_person["source_id"])
    stopped = admin_role_client.post("/customers/new/", data)
    assert stopped.status_code == 409
    assert 'name="erasure_override_reason"' in stopped.content.decode()
    reason = "Signed up again in store, ticket 4411"
    response = admin_role_client.post("/customers/new/", data | {"erasure_override_reason": reason})
    assert response.status_code == 302
    created = use_sandbox_server.api("GET", f"/v1/customers/{erased_person['source_id']}").json()
    assert created["email"] == erased_person["email"]
    override = AuditEntry.objects.get(action=AuditEntry.Action.GUARD_OVERRIDE)
    assert reason in override.detail and override.actor_name == "admin-user"
    assert AuditEntry.objects.filter(action=AuditEntry.Action.CREATE, target_id=created["id"]).exists()


# Import and bulk update: audited, and guarded against erased people --------------------------------------


@pytest.mark.usefixtures("remove_created_customers")
def test_import_is_audited_with_its_job(login_as, use_sandbox_server):
    from tests.csv_samples import confirm, csv_bytes, unique, upload

    client = login_as("marketer")
    source_id = unique("audit-imp")
    upload(client, csv_bytes([["Source_id", "Name"], [source_id, "Imported"]]), "people.csv")
    action_id = confirm(client)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.IMPORT)
    assert (entry.target_id, entry.target_label, entry.outcome) == (action_id, "people.csv", "success")
    assert entry.changes == {"rows": 1} and entry.request_id.startswith("v-")


@pytest.mark.usefixtures("remove_created_customers")
def test_import_with_an_erased_person_is_stopped_naming_the_lines(login_as, use_sandbox_server, erased_person):
    from tests.csv_samples import csv_bytes, unique, upload

    client = login_as("marketer")
    rows = [
        ["Source_id", "Name", "Email"],
        [unique("ok"), "Fine", "fine@example.com"],
        [unique("back"), "Back", erased_person["email"].upper()],
        [erased_person["source_id"], "Back too", ""],
    ]
    upload(client, csv_bytes(rows), "people.csv")
    response = client.post("/customers/import/confirm/")
    assert response.status_code == 409
    page = html.unescape(response.content.decode())
    assert "2 rows would bring back someone who was erased" in page
    assert "Line 3: matches an erased email" in page and "Line 4: matches an erased source id" in page
    assert "Only an administrator can override this" in page
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.IMPORT).exists()
    blocked = AuditEntry.objects.get(action=AuditEntry.Action.GUARD_BLOCKED)
    assert blocked.target_id == "import people.csv" and blocked.changes["rows"] == 2
    assert use_sandbox_server.api("GET", f"/v1/customers/{erased_person['source_id']}").status_code == 404


@pytest.mark.usefixtures("remove_created_customers")
def test_admin_may_override_the_import_guard_with_a_reason(admin_role_client, use_sandbox_server, erased_person):
    from tests.csv_samples import csv_bytes, upload, wait_for_action

    upload(admin_role_client, csv_bytes([["Source_id", "Name"], [erased_person["source_id"], "Back"]]), "back.csv")
    assert admin_role_client.post("/customers/import/confirm/").status_code == 409
    response = admin_role_client.post("/customers/import/confirm/", {"erasure_override_reason": "Court ruling 12/3"})
    assert response.status_code == 302
    action_id = response["Location"].split("/")[2]
    assert wait_for_action(use_sandbox_server, action_id)["status"] == "DONE"
    assert use_sandbox_server.api("GET", f"/v1/customers/{erased_person['source_id']}").status_code == 200
    override = AuditEntry.objects.get(action=AuditEntry.Action.GUARD_OVERRIDE)
    assert "Court ruling 12/3" in override.detail and override.target_id == "import back.csv"
    assert AuditEntry.objects.filter(action=AuditEntry.Action.IMPORT, target_id=action_id).exists()


@pytest.mark.usefixtures("remove_created_customers")
def test_bulk_update_is_audited_per_job(marketer_client, use_sandbox_server):
    from tests.csv_samples import unique

    bodies = [{"source_id": unique("bulk-audit"), "name": f"B{i}"} for i in range(2)]
    people = [use_sandbox_server.api("POST", "/v1/customers", json=body).json() for body in bodies]
    data = {
        "id": [p["id"] for p in people],
        "set-address_city": "Brno",
        "set-meta_key_0": "tier",
        "set-meta_value_0": "gold",
    }
    assert marketer_client.post("/customers/bulk/", data).status_code == 302
    entries = list(AuditEntry.objects.filter(action=AuditEntry.Action.BULK_UPDATE).order_by("id"))
    assert len(entries) == 2
    assert entries[0].changes == {"customers": 2, "fields": {"address_city": "Brno"}}
    assert entries[1].changes == {"customers": 2, "metadata": {"tier": "gold"}}
    assert all(e.target_id.startswith("aa_") and e.request_id.startswith("v-") for e in entries)


@pytest.mark.usefixtures("remove_created_customers")
def test_bulk_update_setting_an_erased_email_is_stopped(marketer_client, use_sandbox_server, erased_person):
    from tests.csv_samples import unique

    person = use_sandbox_server.api("POST", "/v1/customers", json={"source_id": unique("bulk-g"), "name": "G"}).json()
    response = marketer_client.post("/customers/bulk/", {"id": [person["id"]], "set-email": erased_person["email"]})
    assert response.status_code == 409
    assert "Row 1: matches an erased email" in html.unescape(response.content.decode())
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.BULK_UPDATE).exists()
    assert not use_sandbox_server.api("GET", f"/v1/customers/{person['id']}").json().get("email")
