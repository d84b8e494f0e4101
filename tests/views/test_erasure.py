"""GDPR erasure against the sandbox: everyone sharing the email is erased, with receipts, keeping no personal data."""

from __future__ import annotations

import html
import json
import uuid

import pytest
from django.urls import reverse

from customers_app.audit import audit_record
from customers_app.erasure import erased_match, identifier_digest
from customers_app.models import AuditEntry, ErasedIdentifier, ErasureRecord
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remove_created_customers")]


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def person(use_sandbox_server):
    """One person with two customer records sharing an email (Voucherify allows that), plus a bystander."""
    tag = uuid.uuid4().hex[:10]
    email = f"Erin.{tag}@Example.com"

    def create(**body):
        response = use_sandbox_server.api("POST", "/v1/customers", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    first = create(source_id=f"erase-{tag}-a", name=f"Erin Erasable {tag}", email=email, phone="+4470000000")
    second = create(source_id=f"erase-{tag}-b", name="Erin E.", email=email.lower())
    other = create(source_id=f"erase-{tag}-other", name="Otto Other", email=f"otto.{tag}@example.com")
    return {"email": email, "name": first["name"], "records": [first, second], "other": other, "tag": tag}


def erase_form(person, **overrides) -> dict:
    return {
        "reference": "GDPR-2025-0142",
        "requester": "data_subject",
        "requester_reference": "ZD-88412",
        "reason": "Right to erasure, GDPR art. 17(1)(a)",
        "confirmation": person["email"],
        **overrides,
    }


def test_erase_page_lists_everyone_sharing_the_email(admin_role_client, person):
    first, second = person["records"]
    response = admin_role_client.get(reverse("customers:erase", args=[first["id"]]))
    assert response.status_code == 200
    page = text(response)
    assert first["id"] in page and second["id"] in page
    assert person["other"]["id"] not in page
    assert "2 customer records share this email and will all be erased" in page
    assert "Erasure cannot be undone" in page
    assert "Yes, erase this customer" in page and "No, keep them" in page
    for label in ("Request reference", "Requested by", "Reason", "Type the email to confirm the erasure"):
        assert label in page


def test_erasure_end_to_end(admin_role_client, person, use_sandbox_server):
    first, second = person["records"]
    # Earlier dashboard writes about this person, which the erasure must scrub.
    audit_record(
        actor=None,
        action=AuditEntry.Action.EDIT,
        target_id=first["id"],
        target_label=f"{person['name']} <{person['email']}>",
        changes={"phone": {"before": "+4470000000", "after": "+4471111111"}},
        detail=f"edited {person['email']}",
    )
    audit_record(actor=None, action=AuditEntry.Action.CREATE, target_id=second["source_id"], target_label="Erin E.")
    bystander = audit_record(
        actor=None, action=AuditEntry.Action.EDIT, target_id=person["other"]["id"], target_label="Otto Other"
    )

    response = admin_role_client.post(reverse("customers:erase", args=[first["id"]]), erase_form(person), follow=True)
    record = ErasureRecord.objects.get()
    assert response.redirect_chain[-1][0] == reverse("customers:erasure", args=[record.pk])
    assert "Erased 2 customer records for request GDPR-2025-0142" in text(response)

    # Gone upstream, both of them; the bystander stays.
    for customer in (first, second):
        assert use_sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 404
    assert use_sandbox_server.api("GET", f"/v1/customers/{person['other']['id']}").status_code == 200

    # The record: who, when, reference, requester, ids, one receipt each with counts and request id.
    assert record.outcome == "completed"
    assert record.erased_by_name == "admin-user"
    assert record.reference == "GDPR-2025-0142"
    assert record.requester == "data_subject" and record.requester_reference == "ZD-88412"
    assert sorted(record.customer_ids) == sorted([first["id"], second["id"]])
    assert len(record.receipts) == 2
    for receipt in record.receipts:
        assert receipt["outcome"] == "erased"
        assert receipt["deletion_id"].startswith("del_")
        assert receipt["status"] == "DONE"
        assert receipt["counts"]["customer"] == 1
        assert receipt["request_id"].startswith("v-")

    # No personal data in the record, its evidence, or the audit trail.
    personal = [person["email"], person["email"].lower(), person["name"], "Erin", "+4470000000", "+4471111111"]
    personal += [first["source_id"], second["source_id"]]
    stored = json.dumps(
        [record.reference, record.requester_reference, record.reason, record.customer_ids, record.receipts]
    )
    evidence = admin_role_client.get(reverse("customers:erasure-evidence", args=[record.pk]))
    audit_dump = json.dumps(
        [[e.target_id, e.target_label, e.changes, e.detail] for e in AuditEntry.objects.exclude(pk=bystander.pk)]
    )
    for value in personal:
        assert value not in stored
        assert value not in evidence.content.decode()
        assert value not in audit_dump

    # Scrubbed entries keep action, time and ids; the bystander's entry is untouched.
    edit = AuditEntry.objects.get(action=AuditEntry.Action.EDIT, target_id=first["id"])
    assert edit.scrubbed_at is not None and edit.target_label == ""
    assert edit.changes == {"phone": {"before": "[erased]", "after": "[erased]"}}
    create = AuditEntry.objects.get(action=AuditEntry.Action.CREATE)
    assert create.target_id == second["id"]
    assert AuditEntry.objects.get(pk=bystander.pk).target_label == "Otto Other"
    erase_entries = AuditEntry.objects.filter(action=AuditEntry.Action.ERASE)
    assert sorted(e.target_id for e in erase_entries) == sorted(record.customer_ids)
    assert all(e.request_id.startswith("v-") and e.outcome == "success" for e in erase_entries)

    # Only keyed hashes remain, and they recognise the person.
    digests = set(ErasedIdentifier.objects.values_list("digest", flat=True))
    assert identifier_digest(person["email"]) in digests
    assert identifier_digest(first["source_id"]) in digests
    match = erased_match(email=f"  {person['email'].upper()} ")
    assert match is not None and match.erasure_id == record.pk and match.reference == "GDPR-2025-0142"
    assert erased_match(source_id=second["source_id"]).matched == "source_id"
    assert erased_match(email=person["other"]["email"]) is None


def test_erasure_record_page_and_evidence(admin_role_client, person):
    first, _ = person["records"]
    admin_role_client.post(reverse("customers:erase", args=[first["id"]]), erase_form(person))
    record = ErasureRecord.objects.get()
    listing = text(admin_role_client.get(reverse("customers:erasures")))
    assert "GDPR-2025-0142" in listing and "The person themselves" in listing
    detail = text(admin_role_client.get(reverse("customers:erasure", args=[record.pk])))
    for receipt in record.receipts:
        assert receipt["deletion_id"] in detail and receipt["request_id"] in detail
    evidence = admin_role_client.get(reverse("customers:erasure-evidence", args=[record.pk]))
    assert evidence["Content-Type"].startswith("application/json")
    assert f'filename="erasure-{record.pk}.json"' in evidence["Content-Disposition"]
    body = json.loads(evidence.content)
    assert body["reference"] == "GDPR-2025-0142"
    assert body["erased_by"] == "admin-user"
    assert body["outcome"] == "completed"
    assert len(body["receipts"]) == 2


def test_wrong_confirmation_erases_nothing(admin_role_client, person, use_sandbox_server):
    first, _ = person["records"]
    url = reverse("customers:erase", args=[first["id"]])
    response = admin_role_client.post(url, erase_form(person, confirmation="not-the-email@example.com"))
    assert response.status_code == 400
    assert "Nothing was erased" in text(response)
    assert use_sandbox_server.api("GET", f"/v1/customers/{first['id']}").status_code == 200
    assert not ErasureRecord.objects.exists()


@pytest.mark.parametrize("field", ["reference", "requester_reference", "reason"])
def test_erasure_refuses_personal_data_in_the_record(admin_role_client, person, use_sandbox_server, field):
    first, _ = person["records"]
    url = reverse("customers:erase", args=[first["id"]])
    response = admin_role_client.post(url, erase_form(person, **{field: f"asked by {person['email'].lower()}"}))
    assert response.status_code == 400
    assert "Leave the person's name, email and source id out" in text(response)
    assert use_sandbox_server.api("GET", f"/v1/customers/{first['id']}").status_code == 200


def test_erasure_needs_reference_requester_and_reason(admin_role_client, person, use_sandbox_server):
    first, _ = person["records"]
    url = reverse("customers:erase", args=[first["id"]])
    response = admin_role_client.post(url, {"confirmation": person["email"]})
    assert response.status_code == 400
    assert not ErasureRecord.objects.exists()
    assert use_sandbox_server.api("GET", f"/v1/customers/{first['id']}").status_code == 200


def test_customer_without_email_is_erased_alone_and_confirmed_by_id(admin_role_client, use_sandbox_server):
    source_id = f"erase-noemail-{uuid.uuid4().hex[:8]}"
    customer = use_sandbox_server.api("POST", "/v1/customers", json={"source_id": source_id, "name": "Nomail"}).json()
    url = reverse("customers:erase", args=[customer["id"]])
    assert "1 customer record will be erased" in text(admin_role_client.get(url))
    form = {"reference": "T-1", "requester": "authority", "reason": "Court order", "confirmation": customer["id"]}
    assert admin_role_client.post(url, form).status_code == 302
    assert use_sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 404
    assert erased_match(source_id=source_id) is not None


def test_failed_erasure_is_recorded_as_failed(admin_role_client, person, settings):
    from customers_app.erasure import customers_erase
    from customers_app.services.customers import customer_get

    first, _ = person["records"]
    customer = customer_get(customer_id=first["id"])
    # A Voucherify that answers nothing: the erasure fails, and says so, without a guard hash.
    settings.VOUCHERIFY_API_URL = "http://127.0.0.1:9/nothing-here"
    settings.VOUCHERIFY_MAX_RETRIES = 0
    admin = AuditEntry._meta.get_field("actor").related_model.objects.get(username="admin-user")
    record = customers_erase(actor=admin, customers=[customer], reference="R-9", requester="internal", reason="Test")
    assert record.outcome == "failed"
    assert record.receipts[0]["outcome"] == "failed"
    assert not ErasedIdentifier.objects.exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ERASE)
    assert entry.outcome == "failed"


@pytest.mark.parametrize("role", ["support", "marketer"])
def test_only_admins_can_erase(login_as, person, use_sandbox_server, role):
    first, _ = person["records"]
    client = login_as(role)
    url = reverse("customers:erase", args=[first["id"]])
    assert client.get(url).status_code == 403
    assert client.post(url, erase_form(person)).status_code == 403
    assert use_sandbox_server.api("GET", f"/v1/customers/{first['id']}").status_code == 200
    for name in ("customers:erasures",):
        assert client.get(reverse(name)).status_code == 403
