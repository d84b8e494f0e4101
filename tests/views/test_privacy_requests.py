"""Privacy requests as cases against the sandbox: erasure of anyone (found, already deleted, never there) with the
re-creation guard either way, two-person approval checked on the server, rejection, deadlines and the overdue list."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers_app.erasure import erased_match, guard_check_rows
from customers_app.models import AuditEntry, ErasureRecord, PrivacyRequest
from customers_app.privacy import privacy_request_open
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers")]


def text(response) -> str:
    return html.unescape(response.content.decode())


def create(sandbox_server, **body) -> dict:
    response = sandbox_server.api("POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def erasure_form(identifier: str, identifier_kind: str = "email", **overrides) -> dict:
    return {
        "kind": "erasure",
        "identifier_kind": identifier_kind,
        "identifier": identifier,
        "reference": "",
        "requester": "data_subject",
        "requester_reference": "ZD-7001",
        "received_on": timezone.localdate().isoformat(),
        "reason": "Right to erasure, GDPR art. 17(1)(a)",
        **overrides,
    }


def open_case(client, form: dict) -> PrivacyRequest:
    response = client.post(reverse("customers:privacy-new"), form)
    assert response.status_code == 302, text(response)[:3000]
    return PrivacyRequest.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])


def carry_out(client, case: PrivacyRequest, confirmation: str | None = None):
    return client.post(
        reverse("customers:privacy-erase", args=[case.pk]), {"confirmation": confirmation or case.identifier}
    )


def assert_no_personal_data(case: PrivacyRequest, *values: str) -> None:
    row = json.dumps(PrivacyRequest.objects.filter(pk=case.pk).values().get(), default=str).casefold()
    record = ErasureRecord.objects.filter(pk=case.erasure_id).values().first()
    dumped = row + json.dumps(record, default=str).casefold()
    for value in values:
        assert value.casefold() not in dumped, value


def test_erasure_request_for_a_found_person_erases_everyone_sharing_the_email(admin_role_client, sandbox_server):
    tag = uuid.uuid4().hex[:8]
    email = f"pia.{tag}@example.com"
    first = create(sandbox_server, source_id=f"pr-{tag}-a", name=f"Pia Private {tag}", email=email)
    second = create(sandbox_server, source_id=f"pr-{tag}-b", name="Pia P.", email=email)
    case = open_case(admin_role_client, erasure_form(email))
    page = text(admin_role_client.get(reverse("customers:privacy-request", args=[case.pk])))
    assert "2 customer records will be erased" in page and first["id"] in page and second["id"] in page
    assert "Erasure cannot be undone" in page

    assert carry_out(admin_role_client, case, "not-them@example.com").status_code == 400
    assert sandbox_server.api("GET", f"/v1/customers/{first['id']}").status_code == 200

    response = carry_out(admin_role_client, case, email.upper())
    case.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == reverse("customers:erasure", args=[case.erasure_id])
    assert (case.status, case.outcome, case.identifier) == ("done", "erased", "")
    for customer in (first, second):
        assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 404
    assert sorted(case.erasure.customer_ids) == sorted([first["id"], second["id"]])
    assert case.erasure.reference == case.reference and re.fullmatch(r"PR-\d{4}-[0-9A-F]{6}", case.reference)
    assert erased_match(email=email) is not None and erased_match(source_id=second["source_id"]) is not None
    assert_no_personal_data(case, email, first["name"], "Pia P.", first["source_id"], second["source_id"])


def test_erasure_of_an_already_deleted_customer_records_nothing_found_and_guards(admin_role_client, sandbox_server):
    tag = uuid.uuid4().hex[:8]
    email = f"gone.{tag}@example.com"
    customer = create(sandbox_server, source_id=f"gone-{tag}", name=f"Gone Already {tag}", email=email)
    assert sandbox_server.api("DELETE", f"/v1/customers/{customer['id']}").status_code == 204
    # The customer's own erase page cannot help any more; the privacy request can.
    assert admin_role_client.get(reverse("customers:erase", args=[customer["id"]])).status_code == 404

    case = open_case(admin_role_client, erasure_form(email))
    page = text(admin_role_client.get(reverse("customers:privacy-request", args=[case.pk])))
    assert "Voucherify shows no customer for this request" in page
    response = carry_out(admin_role_client, case)
    assert response.status_code == 302
    assert "Nothing found for request" in text(admin_role_client.get(response["Location"]))
    case.refresh_from_db()
    assert (case.status, case.outcome, case.identifier) == ("done", "nothing_found", "")
    receipt = case.erasure.receipts[0]
    assert receipt["outcome"] == "not_found" and receipt["looked_up"] == "email" and receipt["customer_id"] == ""
    assert receipt["request_id"].startswith("v-")
    assert erased_match(email=email.upper()).reference == case.reference
    assert_no_personal_data(case, email)

    by_source_id = open_case(admin_role_client, erasure_form(customer["source_id"], "source_id"))
    assert carry_out(admin_role_client, by_source_id).status_code == 302
    by_source_id.refresh_from_db()
    assert by_source_id.outcome == "nothing_found"
    assert erased_match(source_id=customer["source_id"]).reference == by_source_id.reference


def test_erasure_of_an_unknown_email_is_recorded_and_guarded(admin_role_client, sandbox_server):
    email = f"never.{uuid.uuid4().hex[:8]}@example.com"
    case = open_case(admin_role_client, erasure_form(email))
    carry_out(admin_role_client, case)
    case.refresh_from_db()
    assert case.outcome == "nothing_found" and case.erasure.outcome == "completed"
    assert erased_match(email=email) is not None
    # The guard stops them coming back, in an import or a bulk update too.
    assert [hit.row for hit in guard_check_rows([{"Email": "other@example.com"}, {"Email": email.upper()}])] == [2]
    erase_entries = AuditEntry.objects.filter(action=AuditEntry.Action.ERASE)
    assert [entry.target_id for entry in erase_entries] == [case.reference]
    assert email not in json.dumps(list(AuditEntry.objects.values("target_id", "target_label", "changes", "detail")))


def test_two_person_approval_the_preparer_cannot_carry_out_a_second_admin_can(login_as, sandbox_server, settings):
    settings.ERASURE_APPROVAL = "two_person"
    tag = uuid.uuid4().hex[:8]
    customer = create(sandbox_server, source_id=f"tp-{tag}", name="Tess Twoperson", email=f"tess.{tag}@example.com")
    preparer = login_as("admin", "preparer")
    case = open_case(preparer, erasure_form(customer["email"]))
    assert case.status == "awaiting_approval" and case.prepared_by_name == "preparer"
    page = text(preparer.get(reverse("customers:privacy-request", args=[case.pk])))
    assert "a second person with the erase permission must approve it" in page
    assert "Yes, approve and erase" not in page
    # The server refuses, whatever the page shows.
    assert carry_out(preparer, case).status_code == 403
    assert (
        preparer.post(reverse("customers:privacy-reject", args=[case.pk]), {"rejection_reason": "x"}).status_code == 403
    )
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200
    case.refresh_from_db()
    assert case.status == "awaiting_approval"

    approver = login_as("admin", "approver")
    assert "Yes, approve and erase" in text(approver.get(reverse("customers:privacy-request", args=[case.pk])))
    assert carry_out(approver, case).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.outcome) == ("done", "erased")
    assert (case.prepared_by_name, case.approved_by_name) == ("preparer", "approver")
    assert case.erasure.erased_by_name == "approver"
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 404
    approval = AuditEntry.objects.get(action=AuditEntry.Action.PRIVACY_APPROVE)
    assert approval.actor_name == "approver" and approval.target_id == case.reference
    assert (
        AuditEntry.objects.get(action=AuditEntry.Action.PRIVACY_OPEN, target_id=case.reference).actor_name == "preparer"
    )


def test_two_person_approval_also_holds_the_customer_erase_page(login_as, sandbox_server, settings):
    settings.ERASURE_APPROVAL = "two_person"
    customer = create(sandbox_server, source_id=f"tp-{uuid.uuid4().hex[:8]}", name="Cara Customerpage")
    form = {"reference": "GDPR-TP-1", "requester": "data_subject", "reason": "Art. 17", "confirmation": customer["id"]}
    response = login_as("admin").post(reverse("customers:erase", args=[customer["id"]]), form)
    case = PrivacyRequest.objects.get(reference="GDPR-TP-1")
    assert response["Location"] == reverse("customers:privacy-request", args=[case.pk])
    assert case.status == "awaiting_approval" and case.erasure is None
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200


def test_rejection_with_a_reason_closes_the_case_and_erases_nothing(login_as, sandbox_server, settings):
    settings.ERASURE_APPROVAL = "two_person"
    customer = create(
        sandbox_server, source_id=f"rj-{uuid.uuid4().hex[:8]}", email=f"rj.{uuid.uuid4().hex[:8]}@example.com"
    )
    case = open_case(login_as("admin", "preparer"), erasure_form(customer["email"]))
    approver = login_as("admin", "approver")
    url = reverse("customers:privacy-reject", args=[case.pk])
    assert approver.post(url, {"rejection_reason": ""}).status_code == 400
    assert approver.post(url, {"rejection_reason": "Identity not verified (ticket 4411)"}).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.rejection_reason, case.identifier) == (
        "rejected",
        "Identity not verified (ticket 4411)",
        "",
    )
    assert case.approved_by_name == "approver" and case.closed_at is not None
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200
    assert erased_match(email=customer["email"]) is None
    assert AuditEntry.objects.get(action=AuditEntry.Action.PRIVACY_REJECT).actor_name == "approver"
    assert carry_out(approver, case, customer["email"]).status_code == 403
    assert "Identity not verified" in text(approver.get(reverse("customers:privacy-request", args=[case.pk])))


def test_due_dates_and_the_overdue_first_list(admin_role_client, settings):
    settings.PRIVACY_REQUEST_DAYS = 30
    today = timezone.localdate()
    admin = AuditEntry._meta.get_field("actor").related_model.objects.get(username="admin-user")

    def case(reference, received_days_ago, kind="erasure"):
        return privacy_request_open(
            actor=admin,
            kind=kind,
            identifier=f"{reference}@example.com",
            identifier_kind="email",
            requester="data_subject",
            reason="Art. 17",
            received_on=today - timedelta(days=received_days_ago),
            reference=reference,
        )

    on_time = case("ON-TIME", 2)
    closed = case("CLOSED", 45)
    PrivacyRequest.objects.filter(pk=closed.pk).update(status="done")
    soon = case("DUE-SOON", 26)
    overdue = case("OVERDUE", 33)
    assert on_time.due_on == today + timedelta(days=28) and overdue.due_on == today - timedelta(days=3)

    page = admin_role_client.get(reverse("customers:privacy-requests")).content.decode()
    order = re.findall(r'data-privacy-request-id="(\d+)" data-deadline="(\w+)"', page)
    assert order == [(str(overdue.pk), "overdue"), (str(soon.pk), "due_soon"), (str(on_time.pk), "on_time"),
                     (str(closed.pk), "closed")]  # fmt: skip
    assert "Overdue by 3 days" in page and "Due in 4 days" in page and "Due in 28 days" in page
    assert admin_role_client.get("/erasures/").status_code == 200  # the old address still lists them


def test_request_form_refuses_personal_data_and_bad_dates(admin_role_client):
    email = f"form.{uuid.uuid4().hex[:8]}@example.com"
    url = reverse("customers:privacy-new")
    cases = [
        erasure_form(email, reason=f"asked by {email}"),
        erasure_form(email, requester_reference=email),
        erasure_form(email, received_on=(timezone.localdate() + timedelta(days=2)).isoformat()),
        erasure_form(email, reason=""),
        erasure_form("not-an-email"),
    ]
    for form in cases:
        response = admin_role_client.post(url, form)
        assert response.status_code == 400, form
        assert "Nothing was recorded" in text(response)
    assert not PrivacyRequest.objects.exists()


@pytest.mark.parametrize("role", ["support", "marketer"])
def test_only_admins_handle_privacy_requests(login_as, role):
    client = login_as(role)
    for url in (reverse("customers:privacy-requests"), reverse("customers:privacy-new")):
        assert client.get(url).status_code == 403
    assert client.post(reverse("customers:privacy-new"), erasure_form("x@example.com")).status_code == 403
    assert not PrivacyRequest.objects.exists()


def test_carrying_out_an_erasure_needs_a_recent_sign_in_and_keeps_what_was_typed(admin_role_client, sandbox_server):
    from customers_app.signin.guards import AUTHENTICATED_AT_KEY

    email = f"stale.{uuid.uuid4().hex[:8]}@example.com"
    customer = create(sandbox_server, source_id=f"st-{uuid.uuid4().hex[:8]}", email=email)
    case = open_case(admin_role_client, erasure_form(email))
    session = admin_role_client.session
    session[AUTHENTICATED_AT_KEY] = 0  # signed in long ago
    session.save()
    response = carry_out(admin_role_client, case, email)
    assert response.status_code == 302 and "next=" in response["Location"]
    assert sandbox_server.api("GET", f"/v1/customers/{customer['id']}").status_code == 200
    # Back on the page after signing in again: the confirmation is filled in, nothing was done yet.
    page = admin_role_client.get(reverse("customers:privacy-erase", args=[case.pk])).content.decode()
    assert f'value="{email}"' in page
    case.refresh_from_db()
    assert case.is_open and case.erasure is None
