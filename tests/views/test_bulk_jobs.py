"""Bulk updates of every match as background jobs, against the sandbox over real HTTP: every customer
reached in chunks, one report step per async action, customers without a source id and erased people
left out, the estimate kept, Cancel between chunks, and a resumed job carrying on from its checkpoint.

Jobs run inside the request here (Django's ImmediateBackend), or are called directly where a test
plays the worker.
"""

from __future__ import annotations

import html
import math

import pytest

from customers_app import bulk_jobs
from customers_app.background import JobRun, run_job
from customers_app.erasure import identifier_digest
from customers_app.models import AuditEntry, BackgroundJob, ErasedIdentifier, ErasureRecord, Job
from tests.csv_samples import (
    remove_created_customers,  # noqa: F401 - a fixture
    unique,
    wait_for_action,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers", "tasks_run_immediately"),
]


def make_customers(sandbox_server, count: int, *, city: str, with_source_id: bool = True) -> list[dict]:
    """One call each, so every customer has its own created_at (the order the job walks them in)."""
    created = []
    for index in range(count):
        body = {"name": f"Every {index}", "address": {"city": city}, "metadata": {"keep": "yes"}}
        if with_source_id:
            body["source_id"] = unique("every")
        response = sandbox_server.api("POST", "/v1/customers", json=body)
        assert response.status_code == 200, response.text
        created.append(response.json())
    return created


def in_city(sandbox_server, city: str) -> list[dict]:
    found = []
    for page in range(1, 10):
        params = {"city": city, "limit": 100, "page": page}
        customers = sandbox_server.api("GET", "/v1/customers", params=params).json()["customers"]
        found += customers
        if len(customers) < 100:
            return found
    return found


def start(client, **data) -> BackgroundJob:
    response = client.post("/customers/bulk/", {"scope": "all", **data})
    assert response.status_code == 302, response.content.decode()[:2000]
    job = BackgroundJob.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
    assert response["Location"] == f"/jobs/run/{job.pk}/"
    return job


def test_update_of_every_match_reaches_every_customer_in_chunks(marketer_client, sandbox_server, monkeypatch):
    monkeypatch.setattr(bulk_jobs, "CHUNK_SIZE", 100)
    city, moved_to = unique("city"), unique("city")
    # The oldest first: the job walks newest first, so the ones without a source id fall in chunk 2.
    older = make_customers(sandbox_server, 125, city=city)
    without = make_customers(sandbox_server, 3, city=city, with_source_id=False)
    newer = make_customers(sandbox_server, 125, city=city)
    preview = marketer_client.get("/customers/bulk/", {"scope": "all", "city": city, "preview": "1",
                                                       "set-address_city": moved_to}).content.decode()  # fmt: skip
    estimate = bulk_jobs.bulk_update_cost(total=253, kinds=1, chunk_size=100)
    assert 'data-count="matching">253<' in preview and f'data-calls="{estimate}"' in preview

    # Setting the city moves every customer out of the filter while the job walks it: the
    # created_at cursor does not care, where page numbers would skip half of them.
    job = start(marketer_client, city=city, **{"set-address_city": moved_to})

    job.refresh_from_db()
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.message
    moved = in_city(sandbox_server, moved_to)
    assert {c["id"] for c in moved} == {c["id"] for c in older + newer}
    assert all(c["metadata"] == {"keep": "yes"} for c in moved)  # only the city was set
    assert {c["id"] for c in in_city(sandbox_server, city)} == {c["id"] for c in without}

    steps = job.report
    assert [s["label"] for s in steps] == ["Customers 1–100", "Customers 101–203", "Customers 204–253"]
    assert [(s["sent"], s["found"], s["failed"], s["updated"]) for s in steps] == [
        (100, 100, 0, 100), (100, 103, 0, 100), (50, 50, 0, 50),
    ]  # fmt: skip
    records = {r.async_action_id: r for r in Job.objects.filter(kind=Job.Kind.BULK_UPDATE)}
    assert set(records) == {s["async_action_id"] for s in steps}
    assert all(r.status == "DONE" and r.row_count == s["sent"] for s in steps for r in [records[s["async_action_id"]]])
    assert job.done == job.total == 253
    assert "Sent 250 of 253 matching customers in 3 chunks" in job.message
    assert "3 without a source id" in job.message

    # Reads (3 pages) and sends (3) are exact; each action is looked at once or a few times.
    assert job.calls_estimate == estimate
    assert 3 + 3 + 3 <= job.calls_spent <= estimate + 3, (job.calls_spent, estimate)
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.BULK_UPDATE)
    assert sorted(e.target_id for e in entries) == sorted(records)
    assert all(e.changes["fields"] == {"address_city": moved_to} and e.actor_name == "marketer-user" for e in entries)

    page = marketer_client.get(f"/jobs/run/{job.pk}/").content.decode()
    assert page.count('<a href="/jobs/aa_') == 3 and "Customers 101–203" in page
    assert f'data-calls-spent="{job.calls_spent}"' in page


def test_fields_and_metadata_each_take_a_call_per_chunk(marketer_client, sandbox_server, monkeypatch):
    monkeypatch.setattr(bulk_jobs, "CHUNK_SIZE", 10)
    city = unique("city")
    people = make_customers(sandbox_server, 25, city=city)
    job = start(marketer_client, city=city, **{"set-description": "Every one", "set-meta_key_0": "tier",
                                               "set-meta_value_0": "gold"})  # fmt: skip
    job.refresh_from_db()
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.message
    assert [s["label"] for s in job.report] == [
        "Customers 1–10: fields", "Customers 1–10: metadata",
        "Customers 11–20: fields", "Customers 11–20: metadata",
        "Customers 21–25: fields", "Customers 21–25: metadata",
    ]  # fmt: skip
    kinds = sorted(Job.objects.values_list("kind", flat=True))
    assert kinds == [Job.Kind.BULK_UPDATE] * 3 + [Job.Kind.METADATA_UPDATE] * 3
    after = in_city(sandbox_server, city)
    assert {c["id"] for c in after} == {p["id"] for p in people}
    assert all(c["description"] == "Every one" and c["metadata"] == {"keep": "yes", "tier": "gold"} for c in after)
    assert job.calls_spent <= bulk_jobs.bulk_update_cost(total=25, kinds=2, chunk_size=10) + 3


def test_cancel_between_chunks_stops_the_job(marketer_client, sandbox_server, monkeypatch):
    monkeypatch.setattr(bulk_jobs, "CHUNK_SIZE", 10)
    city = unique("city")
    make_customers(sandbox_server, 30, city=city)
    pressed = []
    step = JobRun.step

    def cancel_after_the_first_chunk(run, **fields):
        step(run, **fields)
        if run.job.report and not pressed:  # what the Cancel button does, once the first chunk is sent
            BackgroundJob.objects.filter(pk=run.job.pk).update(cancel_requested=True)
            pressed.append(len(run.job.report))

    monkeypatch.setattr(JobRun, "step", cancel_after_the_first_chunk)
    job = start(marketer_client, city=city, **{"set-meta_key_0": "wave", "set-meta_value_0": "one"})
    assert pressed == [1]  # the hook ran
    job.refresh_from_db()
    assert job.status == BackgroundJob.Status.CANCELLED, job.message
    assert [s["label"] for s in job.report] == ["Customers 1–10"]
    assert Job.objects.count() == 1
    assert wait_for_action(sandbox_server, job.report[0]["async_action_id"])["status"] == "DONE"
    updated = [c for c in in_city(sandbox_server, city) if c["metadata"].get("wave") == "one"]
    assert len(updated) == 10  # the first chunk (the newest ten), and nothing after Cancel


class WorkerKilled(BaseException):
    """Stands for the worker process dying: nothing in the job catches it."""


def test_a_resumed_job_carries_on_from_its_checkpoint(marketer_client, sandbox_server, monkeypatch, settings):
    monkeypatch.setattr(bulk_jobs, "CHUNK_SIZE", 10)
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}  # this test is the worker
    city = unique("city")
    people = make_customers(sandbox_server, 30, city=city)
    job = start(marketer_client, city=city, **{"set-meta_key_0": "resumed", "set-meta_value_0": "yes"})
    assert job.status == BackgroundJob.Status.QUEUED
    step = JobRun.step

    def die_after_the_first_chunk(run, **fields):
        step(run, **fields)
        if "checkpoint" in fields:
            raise WorkerKilled

    monkeypatch.setattr(JobRun, "step", die_after_the_first_chunk)
    with pytest.raises(WorkerKilled):
        run_job.call(str(job.pk))
    job.refresh_from_db()
    assert job.status == BackgroundJob.Status.RUNNING and len(job.report) == 1
    assert job.checkpoint["progress"]["read"] == 10 and job.checkpoint["progress"]["chunks"] == 1
    calls_before = job.calls_spent

    monkeypatch.setattr(JobRun, "step", step)
    BackgroundJob.objects.filter(pk=job.pk).update(lease_until="2000-01-01T00:00:00Z")  # the lease ran out
    run_job.call(str(job.pk))
    job.refresh_from_db()
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.message
    # Chunk 1 is not sent again; the walk goes on from the cursor, not from the first page.
    assert [s["label"] for s in job.report] == ["Customers 1–10", "Customers 11–20", "Customers 21–30"]
    assert Job.objects.count() == 3 and job.done == 30
    assert job.calls_spent - calls_before <= 1 + 2 + 2 * 3 + 1  # a page, two sends, a few looks
    after = in_city(sandbox_server, city)
    assert {c["id"] for c in after if c["metadata"].get("resumed") == "yes"} == {p["id"] for p in people}


@pytest.fixture
def erased_source_id():
    source_id = unique("gone")
    record = ErasureRecord.objects.create(
        reference="GDPR-EVERY", requester="data_subject", reason="Art. 17", customer_ids=["cust_x"], outcome="completed"
    )
    ErasedIdentifier.objects.create(kind="source_id", digest=identifier_digest(source_id), erasure=record)
    return source_id


def test_an_erased_persons_source_id_is_not_sent(marketer_client, sandbox_server, erased_source_id):
    city = unique("city")
    people = make_customers(sandbox_server, 4, city=city)
    # Someone outside the dashboard brought the erased person back under the same source id.
    back = sandbox_server.api("POST", "/v1/customers",
                              json={"source_id": erased_source_id, "address": {"city": city}}).json()  # fmt: skip
    job = start(marketer_client, city=city, **{"set-meta_key_0": "promo", "set-meta_value_0": "x"})
    job.refresh_from_db()
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.message
    assert [(s["sent"], s["found"]) for s in job.report] == [(4, 5)]
    assert "1 matching an erased person" in job.message
    after = {c["id"]: c for c in in_city(sandbox_server, city)}
    assert all(after[p["id"]]["metadata"].get("promo") == "x" for p in people)
    assert "promo" not in after[back["id"]]["metadata"]
    blocked = AuditEntry.objects.get(action=AuditEntry.Action.GUARD_BLOCKED)
    assert blocked.target_id == f"bulk update {job.pk}" and blocked.changes["rows"] == 1
    assert erased_source_id not in str(job.report) + job.message + str(job.checkpoint)


def test_setting_an_erased_email_on_every_match_is_stopped_before_the_job(marketer_client, sandbox_server):
    email = f"gone.{unique('e')}@example.com"
    record = ErasureRecord.objects.create(
        reference="GDPR-MAIL", requester="data_subject", reason="Art. 17", customer_ids=["cust_y"], outcome="completed"
    )
    ErasedIdentifier.objects.create(kind="email", digest=identifier_digest(email), erasure=record)
    city = unique("city")
    make_customers(sandbox_server, 2, city=city)
    response = marketer_client.post("/customers/bulk/", {"scope": "all", "city": city, "set-email": email})
    assert response.status_code == 409
    assert "permanently erased" in html.unescape(response.content.decode())
    assert not BackgroundJob.objects.exists() and not Job.objects.exists()


def test_cost_counts_reads_and_chunks():
    assert bulk_jobs.bulk_update_cost(total=100_000, kinds=1) == 1000 + 100 * 3
    assert bulk_jobs.bulk_update_cost(total=100_000, kinds=2) == 1000 + 200 * 3
    assert bulk_jobs.bulk_update_cost(total=250, kinds=1, chunk_size=100) == math.ceil(250 / 100) + 3 * 3
