"""GDPR access requests (art. 15) against the sandbox over real HTTP: every record and every page of activity of
the person in one zip (JSON and readable HTML), nothing of anyone else, a case without personal data, a download
for the case's handlers only, kept PRIVACY_FILE_DAYS and deleted at once by an erasure of the person.

Jobs run inside the request here (Django's ImmediateBackend); tests/jobs runs them on a real worker.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers_app import storage
from customers_app.audit import audit_record
from customers_app.models import AuditEntry, BackgroundJob, PrivacyRequest
from customers_app.services.customers import customer_create, customer_update
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers", "tasks_run_immediately"),
]

UPDATES = 105  # with the "created" entry, 106 activity entries: two pages of 100


@pytest.fixture
def person(use_sandbox_server):
    """Two customer records sharing one email, and a bystander."""
    tag = uuid.uuid4().hex[:10]
    email = f"ada.{tag}@example.com"
    first = customer_create(
        data={
            "source_id": f"acc-{tag}-a",
            "name": f"Ada <b>Lovelace</b> {tag}",
            "email": email,
            "phone": "+44 20 7946 0001",
            "metadata": {"loyalty_tier": f"gold-{tag}"},
        }
    )
    second = customer_create(data={"source_id": f"acc-{tag}-b", "name": "Ada L.", "email": email.upper()})
    other = customer_create(data={"source_id": f"acc-{tag}-other", "name": f"Bob Bystander {tag}",
                                  "email": f"bob.{tag}@example.com"})  # fmt: skip
    return {"email": email, "first": first, "second": second, "other": other, "tag": tag}


@pytest.fixture
def person_with_history(person):
    """``person`` whose first record has activity over several pages (105 updates: ~110 calls, so only
    the test that needs the pages pays for them in the shared sandbox's per-minute limit)."""
    for number in range(UPDATES):
        customer_update(customer_id=person["first"].id, changes={"description": f"note {number}"})
    return person


def all_activity_ids(sandbox_server, customer_id: str) -> list[str]:
    ids, cursor = [], None
    while True:
        params = {"limit": 100, **({"starting_after_id": cursor} if cursor else {})}
        page = sandbox_server.api("GET", f"/v1/customers/{customer_id}/activity", params=params).json()
        ids += [entry["id"] for entry in page["data"]]
        if not page["has_more"]:
            return ids
        cursor = page.get("more_starting_after") or page["data"][-1]["id"]


def access_request(client, identifier: str, identifier_kind: str = "email", **overrides) -> PrivacyRequest:
    form = {
        "kind": "access",
        "identifier_kind": identifier_kind,
        "identifier": identifier,
        "requester": "data_subject",
        "requester_reference": "ZD-5150",
        "received_on": timezone.localdate().isoformat(),
        **overrides,
    }
    response = client.post(reverse("customers:privacy-new"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    return PrivacyRequest.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])


def pack(client, case: PrivacyRequest) -> dict[str, str]:
    response = client.get(reverse("customers:privacy-pack", args=[case.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip" and "attachment" in response["Content-Disposition"]
    assert response.streaming
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        return {name.rsplit("/", 1)[-1]: archive.read(name).decode() for name in archive.namelist()}


def test_access_request_pack_holds_every_record_and_activity_and_nothing_of_anyone_else(
    admin_role_client, person_with_history, sandbox_server
):
    person = person_with_history
    first, second, other = person["first"], person["second"], person["other"]
    audit_record(actor=None, action=AuditEntry.Action.EDIT, target_id=first.id, target_label=first.name,
                 changes={"phone": {"before": "+44 20 7946 0000", "after": first.phone}})  # fmt: skip
    audit_record(actor=None, action=AuditEntry.Action.EDIT, target_id=other.id, target_label=other.name)

    case = access_request(admin_role_client, person["email"].title())
    case.refresh_from_db()
    assert case.status == "done" and case.outcome == "delivered" and case.delivered_at is not None
    assert case.job.kind == BackgroundJob.Kind.ACCESS_PACK and case.job.status == "succeeded", case.job.message
    # Paced as background work: every call (lookups, both records, three pages of activity...) is counted.
    assert case.job.calls_spent >= 10

    files = pack(admin_role_client, case)
    assert set(files) == {"data.json", "report.html"}
    data = json.loads(files["data.json"])
    records = {record["id"]: record for record in data["customers"]}
    assert set(records) == {first.id, second.id}
    expected_activity = all_activity_ids(sandbox_server, first.id)
    assert len(expected_activity) == UPDATES + 1 > 100  # more than one page
    assert [entry["id"] for entry in records[first.id]["activity"]] == expected_activity
    assert [entry["id"] for entry in records[second.id]["activity"]] == all_activity_ids(sandbox_server, second.id)
    assert records[first.id]["profile"]["email"] == person["email"]
    assert records[first.id]["metadata"] == {"loyalty_tier": f"gold-{person['tag']}"}
    assert "summary" in records[first.id] and isinstance(records[second.id]["segments"], list)
    assert [entry["target_id"] for entry in data["dashboard"]["audit_entries"]] == [first.id]
    assert case.counts == {"customers": 2, "activity": len(expected_activity) + 1, "redeemables": 0,
                           "segments": case.counts["segments"], "audit_entries": 1, "imports": 0,
                           "background_jobs": 0}  # fmt: skip

    # The readable page: every activity entry, escaped, self-contained.
    page = files["report.html"]
    for activity_id in expected_activity:
        assert f'data-activity-id="{activity_id}"' in page
    assert "&lt;b&gt;Lovelace&lt;/b&gt;" in page and "<b>Lovelace</b>" not in page
    assert "<script" not in page and 'src="http' not in page and "<link" not in page

    # Nothing of the bystander in either file.
    for text in files.values():
        assert other.id not in text and other.email not in text and other.name not in text

    # The case keeps counts and dates, no personal data.
    row = PrivacyRequest.objects.filter(pk=case.pk).values().get()
    dumped = json.dumps(row, default=str).casefold()
    for value in (person["email"], first.name, "lovelace", first.source_id, second.source_id, first.phone, "ada l."):
        assert value.casefold() not in dumped
    assert row["identifier"] == "" and len(row["identifier_digest"]) == 64
    job_dump = json.dumps(BackgroundJob.objects.filter(pk=case.job_id).values().get(), default=str).casefold()
    assert person["email"] not in job_dump and "lovelace" not in job_dump

    detail = admin_role_client.get(reverse("customers:privacy-request", args=[case.pk])).content.decode()
    assert "Download the pack (zip)" in detail and "2 customer records" in detail


def test_access_request_by_source_id_finds_everyone_sharing_the_email(admin_role_client, person):
    case = access_request(admin_role_client, person["second"].source_id, "source_id")
    data = json.loads(pack(admin_role_client, case)["data.json"])
    assert {record["id"] for record in data["customers"]} == {person["first"].id, person["second"].id}


def test_access_request_for_someone_unknown_is_an_empty_pack(admin_role_client):
    case = access_request(admin_role_client, f"nobody.{uuid.uuid4().hex[:8]}@example.com")
    case.refresh_from_db()
    assert case.status == "done" and case.outcome == "no_records" and case.counts["customers"] == 0
    assert "We hold no customer record for you" in pack(admin_role_client, case)["report.html"]


def test_only_the_case_handlers_may_download_the_pack(login_as, person):
    preparer = login_as("admin")
    case = access_request(preparer, person["email"])
    url = reverse("customers:privacy-pack", args=[case.pk])
    assert preparer.get(url).status_code == 200
    for role, username in (("admin", "another-admin"), ("support", None), ("marketer", None)):
        client = login_as(role, username)
        assert client.get(url).status_code == 403, role
    other_admin_page = login_as("admin", "another-admin").get(reverse("customers:privacy-request", args=[case.pk]))
    assert "Download the pack" not in other_admin_page.content.decode()


def test_pack_is_deleted_after_the_privacy_file_days(admin_role_client, person, settings):
    settings.PRIVACY_FILE_DAYS = 7
    old = access_request(admin_role_client, person["email"])
    fresh = access_request(admin_role_client, person["second"].source_id, "source_id")
    old.refresh_from_db()
    old_files = list(old.pack_files)
    PrivacyRequest.objects.filter(pk=old.pk).update(delivered_at=timezone.now() - timedelta(days=8))
    assert admin_role_client.get(reverse("customers:privacy-requests")).status_code == 200  # tidies up on the way
    old.refresh_from_db()
    assert old.pack_files == [] and old.pack_deleted_at is not None
    assert not any(storage.exists(name) for name in old_files)
    assert admin_role_client.get(reverse("customers:privacy-pack", args=[old.pk])).status_code == 404
    page = admin_role_client.get(reverse("customers:privacy-request", args=[old.pk])).content.decode()
    assert "The pack was deleted" in page
    fresh.refresh_from_db()
    assert all(storage.exists(name) for name in fresh.pack_files)


def test_erasure_deletes_the_persons_access_packs(admin_role_client, person, sandbox_server):
    case = access_request(admin_role_client, person["email"])
    bystander_case = access_request(admin_role_client, person["other"].email)
    case.refresh_from_db()
    bystander_case.refresh_from_db()
    files = list(case.pack_files)
    assert files and all(storage.exists(name) for name in files)

    form = {"kind": "erasure", "identifier_kind": "id", "identifier": person["first"].id, "requester": "data_subject",
            "received_on": timezone.localdate().isoformat(), "reason": "Right to erasure, art. 17"}  # fmt: skip
    response = admin_role_client.post(reverse("customers:privacy-new"), form)
    erasure_case = PrivacyRequest.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
    response = admin_role_client.post(
        reverse("customers:privacy-erase", args=[erasure_case.pk]), {"confirmation": person["first"].id}
    )
    assert response.status_code == 302
    assert sandbox_server.api("GET", f"/v1/customers/{person['second'].id}").status_code == 404

    case.refresh_from_db()
    assert case.pack_files == [] and case.pack_deleted_at is not None
    assert not any(storage.exists(name) for name in files)
    assert admin_role_client.get(reverse("customers:privacy-pack", args=[case.pk])).status_code == 404
    bystander_case.refresh_from_db()
    assert bystander_case.pack_files and all(storage.exists(name) for name in bystander_case.pack_files)


def test_a_typed_reference_cannot_steer_file_names(admin_role_client, person):
    case = access_request(admin_role_client, person["email"], reference="../../etc/GDPR 9")
    case.refresh_from_db()
    assert case.reference == "../../etc/GDPR 9"
    assert all(name.startswith("privacy/etc-GDPR-9-") and ".." not in name for name in case.pack_files)
    response = admin_role_client.get(reverse("customers:privacy-pack", args=[case.pk]))
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert sorted(archive.namelist()) == ["etc-GDPR-9/data.json", "etc-GDPR-9/report.html"]
