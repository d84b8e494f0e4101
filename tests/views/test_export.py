"""CSV export against the sandbox over real HTTP: a background job through Voucherify's Exports API (or
a walk of the list for a segment), every matching row, BOM, neutralised formulas, owner-only download.

Jobs run inside the request here (Django's ImmediateBackend); tests/jobs runs them on a real worker.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from customers_app.models import BackgroundJob
from tests.csv_samples import (
    remove_created_customers,  # noqa: F401 - a fixture
    unique,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers", "tasks_run_immediately"),
]


def export(client, **params) -> BackgroundJob:
    response = client.post("/customers/export/", params)
    assert response.status_code == 302, response.content[:2000]
    job = BackgroundJob.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.message
    return job


def download(client, job: BackgroundJob) -> list[list[str]]:
    response = client.get(f"/jobs/run/{job.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark for spreadsheets
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_export_has_every_customer_for_a_handful_of_calls(marketer_client, sandbox_server):
    total = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["total"]
    assert total > 100  # more than one page of the list
    job = export(marketer_client, columns=["Id", "Email"])
    rows = download(marketer_client, job)
    assert rows[0] == ["Id", "Email"]
    ids = [row[0] for row in rows[1:]]
    assert len(ids) == len(set(ids)) == total
    assert job.calls_spent <= 8  # create, a few looks, download, delete: not one per 100 customers
    assert job.done == total and "Exports API" in job.description
    page = marketer_client.get(f"/jobs/run/{job.pk}/").content.decode()
    assert f'data-calls-spent="{job.calls_spent}"' in page and "estimated" in page and "Download the CSV file" in page


def test_export_of_a_filter_has_exactly_the_matching_rows(marketer_client, sandbox_server):
    city = unique("city")
    for index in range(3):
        sandbox_server.api("POST", "/v1/customers", json={"name": f"E{index}", "address": {"city": city}})
    page = marketer_client.get("/customers/export/", {"city": city}).content.decode()
    assert 'data-count="total">3<' in page and "Start the export" in page
    assert re.search(r"about \d+ Voucherify calls", page)
    rows = download(marketer_client, export(marketer_client, city=city.upper(), columns=["Name", "Address_City"]))
    assert rows[0] == ["Name", "Address_City"]
    assert sorted(rows[1:]) == [["E0", city], ["E1", city], ["E2", city]]


def test_a_segment_filter_walks_the_list_instead(marketer_client, sandbox_server):
    segment = sandbox_server.api("GET", "/v1/segments", params={"limit": 100}).json()["data"][0]
    total = sandbox_server.api("GET", "/v1/customers", params={"limit": 1, "segment_id": segment["id"]}).json()["total"]
    page = marketer_client.get("/customers/export/", {"segment_id": segment["id"]}).content.decode()
    assert "100 customers a call" in page
    job = export(marketer_client, segment_id=segment["id"], columns=["Id"])
    assert "walk of the list" in job.description
    assert len(download(marketer_client, job)) - 1 == total
    assert job.calls_spent >= total // 100 + 1


def test_export_neutralises_spreadsheet_formulas(marketer_client, sandbox_server):
    city = unique("city")
    body = {
        "name": "=HYPERLINK(\"http://evil.example\",\"click\")",
        "phone": "+420 777 123 456",
        "description": "@SUM(A1:A9)",
        "address": {"city": city, "line_1": "-2+3"},
        "metadata": {"note": "=1+1"},
    }
    sandbox_server.api("POST", "/v1/customers", json=body)
    job = export(marketer_client, city=city, columns=["Name", "Phone", "Description", "Address_line_1", "Metadata"])
    name, phone, description, line_1, metadata = download(marketer_client, job)[1]
    assert name == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert phone == "'+420 777 123 456"
    assert description == "'@SUM(A1:A9)"
    assert line_1 == "'-2+3"
    assert metadata.startswith("{") and '"note"' in metadata  # JSON starts with "{": nothing to neutralise


def test_export_keeps_names_in_utf8(marketer_client, sandbox_server):
    city = unique("city")
    sandbox_server.api("POST", "/v1/customers", json={"name": "Łukasz Dvořák", "address": {"city": city}})
    job = export(marketer_client, city=city, columns=["Name"])
    assert download(marketer_client, job) == [["Name"], ["Łukasz Dvořák"]]


def test_only_the_owner_and_admins_may_download(marketer_client, login_as, sandbox_server):
    city = unique("city")
    sandbox_server.api("POST", "/v1/customers", json={"name": "Owner Only", "address": {"city": city}})
    job = export(marketer_client, city=city, columns=["Name"])
    other = login_as("marketer", "another-marketer")
    assert other.get(f"/jobs/run/{job.pk}/download/").status_code == 403
    assert "Download the CSV file" not in other.get(f"/jobs/run/{job.pk}/").content.decode()
    admin = login_as("admin", "an-admin")
    assert admin.get(f"/jobs/run/{job.pk}/download/").status_code == 200


def test_export_page_needs_a_column(marketer_client):
    response = marketer_client.post("/customers/export/", {})
    assert response.status_code == 400
    assert "Choose at least one column" in response.content.decode()
    assert not BackgroundJob.objects.exists()


def test_export_default_columns_are_all_offered(marketer_client):
    html = marketer_client.get("/customers/export/").content.decode()
    for column in ("Source_id", "Email", "Metadata", "Created_at"):
        assert f'value="{column}"' in html


def test_support_cannot_export(support_client):
    assert support_client.get("/customers/export/").status_code == 403
    assert support_client.post("/customers/export/", {"columns": "Email"}).status_code == 403


def test_an_erasure_removes_every_export_file_holding_the_person(admin_role_client, sandbox_server):
    from django.urls import reverse

    from customers_app import storage

    city, tag = unique("city"), unique("tag")
    email = f"gone.{tag}@example.com"
    person = sandbox_server.api("POST", "/v1/customers", json={"name": "Gone Soon", "email": email,
                                                                "address": {"city": city}}).json()  # fmt: skip
    sandbox_server.api("POST", "/v1/customers", json={"name": "Stays", "address": {"city": city}})
    with_person = export(admin_role_client, city=city, columns=["Name", "Email"])
    by_email = export(admin_role_client, email=email, columns=["Id"])
    unrelated = export(admin_role_client, city=unique("city"), columns=["Id"])
    assert storage.exists(with_person.file_name) and storage.exists(by_email.file_name)

    form = {"reference": "GDPR-1", "requester": "data_subject", "reason": "Art. 17", "confirmation": email}
    assert admin_role_client.post(reverse("customers:erase", args=[person["id"]]), form).status_code == 302

    for job in (with_person, by_email):
        job.refresh_from_db()
        assert job.file_name == "" and "erased" in job.message
        assert admin_role_client.get(f"/jobs/run/{job.pk}/download/").status_code == 404
    assert by_email.params["filters"]["email"] == "(erased)"  # nor in what the job was asked
    unrelated.refresh_from_db()
    assert storage.exists(unrelated.file_name)


def test_export_files_are_deleted_after_the_keep_days(marketer_client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from customers_app import storage

    settings.EXPORT_KEEP_DAYS = 7
    old = export(marketer_client, city=unique("city"), columns=["Id"])
    fresh = export(marketer_client, city=unique("city"), columns=["Id"])
    BackgroundJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert marketer_client.get("/jobs/").status_code == 200  # the jobs page tidies up on the way
    old.refresh_from_db()
    assert old.file_name == "" and "deleted after 7 days" in old.message
    assert marketer_client.get(f"/jobs/run/{old.pk}/download/").status_code == 404
    fresh.refresh_from_db()
    assert storage.exists(fresh.file_name)
