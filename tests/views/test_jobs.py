"""Job pages against the sandbox over real HTTP: polling until the end, failures, rejected rows."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from customers_app.csv_import import import_files_purge_person
from customers_app.models import ImportFile, Job
from customers_app.types import AsyncAction
from tests.csv_samples import (
    confirm,
    csv_bytes,
    remove_created_customers,  # noqa: F401 - a fixture
    unique,
    upload,
    wait_for_action,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers")]


def poll_until_finished(client, action_id: str, timeout: float = 30) -> str:
    """Polls the job's status fragment the way htmx does, until it stops asking to be polled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/jobs/{action_id}/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        html = response.content.decode()
        assert html.lstrip().startswith('<section id="job-status"')  # only the fragment
        if 'hx-trigger="every 2s"' not in html:
            return html
        time.sleep(0.3)
    raise AssertionError("the job did not finish")


def start_import_with_a_rejected_row(client, tag: str) -> str:
    rows = [
        ["Source_id", "Id", "Name", "Email"],
        [f"{tag}-0", "", "Ann Good", f"ann+{tag}@example.com"],
        [f"{tag}-1", "cust_doesnotexist000000000", "Bob Unknown Id", f"bob+{tag}@example.com"],
        [f"{tag}-2", "", "Cid Good", f"cid+{tag}@example.com"],
    ]
    assert upload(client, csv_bytes(rows), "crm-export.csv").status_code == 302
    return confirm(client)


def test_job_page_follows_an_import_to_done_and_stops_polling(marketer_client, sandbox_server):
    tag = unique()
    action_id = start_import_with_a_rejected_row(marketer_client, tag)
    page = marketer_client.get(f"/jobs/{action_id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "crm-export.csv" in html and "marketer-user" in html
    if 'data-status="DONE"' not in html:
        assert 'hx-trigger="every 2s"' in html and "<progress" in html
    final = poll_until_finished(marketer_client, action_id)
    assert 'data-status="DONE"' in final
    assert "2 customer(s) imported successfully, 1 failed." in final
    assert f"{tag}-1" in final and "cust_doesnotexist000000000" in final
    assert "Download rejected rows" in final
    assert 'value="100"' in final  # the progress bar is full
    job = Job.objects.get(async_action_id=action_id)
    assert job.status == "DONE" and job.finished_at is not None and job.row_count == 3


def test_rejected_rows_download_has_only_the_failed_rows_and_a_reason(marketer_client, sandbox_server):
    tag = unique()
    action_id = start_import_with_a_rejected_row(marketer_client, tag)
    poll_until_finished(marketer_client, action_id)
    response = marketer_client.get(f"/jobs/{action_id}/rejected.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["Source_id", "Id", "Name", "Email", "reason"]
    assert len(rows) == 2
    assert rows[1][:3] == [f"{tag}-1", "cust_doesnotexist000000000", "Bob Unknown Id"]
    assert "cust_doesnotexist000000000" in rows[1][4]
    # The rows come from the file sent, kept in the database with the job (no local file).
    sent = Job.objects.get(async_action_id=action_id).sent_import_file
    assert sent.kind == "sent" and sent.file_name == "crm-export.csv" and sent.owner.username == "marketer-user"
    assert bytes(sent.content).startswith(b"Source_id,Id,Name,Email\r\n")
    assert not ImportFile.objects.filter(kind="upload").exists()  # the upload went once it was sent


def test_rejected_rows_after_the_sent_file_expired_list_row_numbers_and_reasons(marketer_client, sandbox_server):
    tag = unique()
    action_id = start_import_with_a_rejected_row(marketer_client, tag)
    poll_until_finished(marketer_client, action_id)
    job = Job.objects.get(async_action_id=action_id)
    ImportFile.objects.filter(pk=job.sent_import_file_id).update(created_at=timezone.now() - timedelta(days=8))
    response = marketer_client.get(f"/jobs/{action_id}/rejected.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0] == ["row", "source_id", "reason"]
    assert rows[1][:2] == ["2", f"{tag}-1"]
    marketer_client.get("/jobs/")  # the job list cleans up on the way
    job.refresh_from_db()
    assert job.sent_import_file is None and not ImportFile.objects.exists()


def test_erasure_deletes_the_sent_files_that_hold_the_person(login_as, sandbox_server):
    marketer = login_as("marketer")
    tag = unique()
    erased_email = f"ann+{tag}@example.com"
    action_id = start_import_with_a_rejected_row(marketer, tag)
    wait_for_action(sandbox_server, action_id)
    other_rows = [["Source_id", "Name", "Email"], [f"{tag}-x", "Xena Other", f"xena+{tag}@example.com"]]
    assert upload(marketer, csv_bytes(other_rows), "others.csv").status_code == 302
    other_id = confirm(marketer)
    in_progress = [["Source_id", "Name", "Email"], [f"{tag}-y", "Ann Again", erased_email.upper()]]
    assert upload(marketer, csv_bytes(in_progress), "again.csv").status_code == 302
    with_person = Job.objects.get(async_action_id=action_id).sent_import_file_id
    without_person = Job.objects.get(async_action_id=other_id).sent_import_file_id
    assert with_person and without_person

    customer = sandbox_server.api("GET", f"/v1/customers/{tag}-0").json()
    admin = login_as("admin")
    form = {
        "reference": "GDPR-T-1",
        "requester": "data_subject",
        "reason": "Right to erasure",
        "confirmation": erased_email,
    }
    response = admin.post(reverse("customers:erase", args=[customer["id"]]), form)
    assert response.status_code == 302, response.content.decode()[:2000]

    assert not ImportFile.objects.filter(pk=with_person).exists()
    assert ImportFile.objects.filter(pk=without_person).exists()
    assert not ImportFile.objects.filter(kind="upload").exists()  # the upload in progress held them too
    assert Job.objects.get(async_action_id=action_id).sent_import_file is None
    # The download still answers, from Voucherify's report alone.
    assert admin.get(f"/jobs/{action_id}/rejected.csv").status_code == 200


def test_purge_person_matches_email_or_source_id_case_insensitively():
    def sent(text: str) -> ImportFile:
        return ImportFile.objects.create(kind="sent", content=text.encode(), size=len(text))

    by_email = sent("Source_id,Name,Email\r\ns-1,Ann,Ann@Example.com\r\n")
    by_source_id = sent("Source_id,Name\r\nann@example.com,Ann\r\n")  # emails used as source ids
    by_id = sent("Source_id,Name\r\nCRM-42,Ann\r\n")
    name_only = sent("Source_id,Name,Description\r\ns-2,Bob,ann@example.com and crm-42\r\n")
    assert import_files_purge_person(emails=[" ann@example.com "], source_ids=["crm-42"]) == 3
    assert set(ImportFile.objects.values_list("pk", flat=True)) == {name_only.pk}
    assert {by_email.pk, by_source_id.pk, by_id.pk}.isdisjoint(ImportFile.objects.values_list("pk", flat=True))
    assert import_files_purge_person(emails=[], source_ids=[None, ""]) == 0


def test_jobs_list_records_who_started_what(marketer_client, sandbox_server):
    tag = unique()
    action_id = start_import_with_a_rejected_row(marketer_client, tag)
    html = marketer_client.get("/jobs/").content.decode()
    row = re.search(rf'<tr data-job-id="{action_id}">.*?</tr>', html, re.S).group(0)
    assert "CSV import" in row and "crm-export.csv" in row and "marketer-user" in row and ">3<" in row
    wait_for_action(sandbox_server, action_id)
    html = marketer_client.get("/jobs/").content.decode()  # the list asks Voucherify about unfinished jobs
    row = re.search(rf'<tr data-job-id="{action_id}">.*?</tr>', html, re.S).group(0)
    assert ">DONE<" in row


def test_running_job_fragment_polls_and_finished_one_does_not():
    running = AsyncAction.from_api({"id": "aa_1", "status": "IN_PROGRESS", "progress": 40})
    done = AsyncAction.from_api({"id": "aa_1", "status": "DONE", "progress": 100, "result": {"message": "ok"}})
    running_html = render_to_string("jobs/detail.html#status", {"action": running, "result": {}, "poll_seconds": 2})
    done_html = render_to_string("jobs/detail.html#status", {"action": done, "result": done.result})
    assert 'hx-trigger="every 2s"' in running_html and 'value="40"' in running_html
    assert 'hx-get="/jobs/aa_1/"' in running_html
    assert "hx-trigger" not in done_html and "ok" in done_html


def test_the_job_page_looks_less_often_as_a_job_ages():
    from datetime import timedelta

    from django.utils import timezone

    from customers_app.views.jobs import poll_seconds

    def aged(seconds):
        created = (timezone.now() - timedelta(seconds=seconds)).isoformat()
        return AsyncAction.from_api({"id": "aa_1", "created_at": created})

    assert [poll_seconds(aged(s)) for s in (5, 120, 3600)] == [2, 5, 15]


def test_unknown_job_is_404(marketer_client):
    assert marketer_client.get("/jobs/aa_000000000000000000/").status_code == 404


def test_support_cannot_see_jobs(support_client):
    assert support_client.get("/jobs/").status_code == 403
    assert support_client.get("/jobs/aa_000000000000000000/").status_code == 403
