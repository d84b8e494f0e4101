"""Bulk updates from the list against the sandbox over real HTTP: preview, then fields and metadata."""

from __future__ import annotations

import pytest

from customers_app.bulk_jobs import bulk_update_cost
from customers_app.models import BackgroundJob, Job
from customers_app.services import budget
from customers_app.views import bulk
from tests.csv_samples import (
    remove_created_customers,  # noqa: F401 - a fixture
    unique,
    wait_for_action,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers")]


def make_customers(sandbox_server, count: int, *, city: str, with_source_id: bool = True) -> list[dict]:
    created = []
    for index in range(count):
        body = {"name": f"Bulk {index}", "address": {"city": city}, "metadata": {"keep": "yes"}}
        if with_source_id:
            body["source_id"] = unique("bulk")
        response = sandbox_server.api("POST", "/v1/customers", json=body)
        assert response.status_code == 200, response.text
        created.append(response.json())
    return created


def get(sandbox_server, customer_id: str) -> dict:
    return sandbox_server.api("GET", f"/v1/customers/{customer_id}").json()


def test_bulk_update_of_selected_customers_sets_fields_and_metadata(marketer_client, sandbox_server):
    city = unique("city")
    people = make_customers(sandbox_server, 3, city=city)
    ids = [p["id"] for p in people]
    page = marketer_client.get("/customers/bulk/", {"id": ids})
    assert page.status_code == 200 and "3 selected customers" in page.content.decode()
    changes = {"id": ids, "preview": "1", "set-address_city": "Brno", "set-phone": "+420 555 000 111",
               "set-meta_key_0": "tier", "set-meta_value_0": "gold"}  # fmt: skip
    preview = marketer_client.get("/customers/bulk/", changes)
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "Before → after" in html and f'<td class="before">{city}</td>' in html
    assert '<td class="after">Brno</td>' in html and "metadata.tier" in html
    assert "Update 3 customers" in html
    response = marketer_client.post("/customers/bulk/", {k: v for k, v in changes.items() if k != "preview"})
    assert response.status_code == 302 and response["Location"].startswith("/jobs/aa_")
    jobs = {job.kind: job for job in Job.objects.all()}
    assert set(jobs) == {Job.Kind.BULK_UPDATE, Job.Kind.METADATA_UPDATE}
    for job in jobs.values():
        assert wait_for_action(sandbox_server, job.async_action_id)["status"] == "DONE"
        assert job.row_count == 3 and job.created_by_name == "marketer-user"
    for person in people:
        after = get(sandbox_server, person["id"])
        assert after["address"]["city"] == "Brno" and after["phone"] == "+420 555 000 111"
        assert after["metadata"] == {"keep": "yes", "tier": "gold"}  # other keys kept
        assert after["name"] == person["name"]  # blank fields stay as they were


def test_customers_without_source_id_are_left_out_and_said_so(marketer_client, sandbox_server):
    city = unique("city")
    with_id = make_customers(sandbox_server, 1, city=city)
    without = make_customers(sandbox_server, 1, city=city, with_source_id=False)
    ids = [with_id[0]["id"], without[0]["id"]]
    html = marketer_client.get("/customers/bulk/", {"id": ids}).content.decode()
    assert 'data-count="no-source-id">1<' in html and "no source id and can't be bulk-updated" in html
    assert "Voucherify would create a new customer for an unknown source id" in html
    response = marketer_client.post("/customers/bulk/", {"id": ids, "set-description": "VIP"})
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.row_count == 1
    wait_for_action(sandbox_server, job.async_action_id)
    assert get(sandbox_server, with_id[0]["id"])["description"] == "VIP"
    assert not get(sandbox_server, without[0]["id"]).get("description")


def test_all_matching_a_filter_has_no_cap_and_starts_a_job(marketer_client, sandbox_server):
    city = unique("city")
    make_customers(sandbox_server, 4, city=city)
    make_customers(sandbox_server, 1, city=city, with_source_id=False)
    query = {"scope": "all", "city": city, "set-meta_key_0": "campaign", "set-meta_value_0": "spring"}
    html = marketer_client.get("/customers/bulk/", {**query, "preview": "1"}).content.decode()
    assert "All customers matching this filter" in html and 'data-count="matching">5<' in html
    assert "capped" not in html
    assert "Customers without a source id are counted and left out when the job runs" in html
    assert f'data-calls="{bulk_update_cost(total=5, kinds=1)}"' in html and "calls/minute" in html
    assert "Start updating all 5 matching customers" in html
    response = marketer_client.post("/customers/bulk/", query)
    assert response.status_code == 302
    job = BackgroundJob.objects.get()
    assert response["Location"] == f"/jobs/run/{job.pk}/"
    assert job.kind == BackgroundJob.Kind.BULK_UPDATE and job.total == 5
    assert job.calls_estimate == bulk_update_cost(total=5, kinds=1)
    assert job.params["filters"] == {"city": city} and job.params["metadata"] == {"campaign": "spring"}
    assert not Job.objects.exists()  # nothing is sent from the request: the job sends it
    page = marketer_client.get(response["Location"]).content.decode()
    assert "Set metadata campaign on every matching customer" in page


def test_all_matching_preview_reads_only_the_first_page(marketer_client, sandbox_server):
    total = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["total"]
    assert total >= 1000  # as many as the old cap, and many pages of the list
    with budget.counting() as calls:
        response = marketer_client.get("/customers/bulk/", {"scope": "all", "preview": "1", "set-description": "X"})
    html = response.content.decode()
    assert response.status_code == 200
    assert calls[0] == 1  # one page of 100: the preview does not walk every match
    assert f'data-count="matching">{total:,}<' in html and f"Start updating all {total:,} matching customers" in html
    assert html.count('<td class="after">X</td>') == bulk.PREVIEW_ROWS


def test_preview_of_selected_customers_states_its_cost(marketer_client, sandbox_server):
    ids = [p["id"] for p in make_customers(sandbox_server, 3, city=unique("city"))]
    changes = {"id": ids, "preview": "1", "set-phone": "+420 555 000 2", "set-meta_key_0": "a", "set-meta_value_0": "b"}
    html = marketer_client.get("/customers/bulk/", changes).content.decode()
    assert 'data-calls="5"' in html  # a read of each selected customer, then bulk/async and metadata/async


def test_bulk_form_validation(marketer_client, sandbox_server):
    people = make_customers(sandbox_server, 1, city=unique("city"))
    response = marketer_client.get("/customers/bulk/", {"id": people[0]["id"], "preview": "1"})
    assert response.status_code == 400 and "Choose at least one field" in response.content.decode()
    response = marketer_client.get(
        "/customers/bulk/",
        {"id": people[0]["id"], "preview": "1", "set-meta_key_0": "bad key", "set-meta_value_0": "x"},
    )
    assert response.status_code == 400 and "no spaces" in response.content.decode()
    response = marketer_client.get("/customers/bulk/", {"id": people[0]["id"], "preview": "1", "set-email": "nope"})
    assert response.status_code == 400
    assert Job.objects.count() == 0


def test_bulk_without_selection_goes_back_to_the_list(marketer_client):
    response = marketer_client.get("/customers/bulk/")
    assert response.status_code == 302 and response["Location"] == "/customers/"


def test_list_offers_checkboxes_and_bulk_controls_to_marketers(marketer_client):
    html = marketer_client.get("/customers/").content.decode()
    assert 'form="bulk-form"' in html and "Bulk update selected" in html and "Export CSV" in html
    assert html.count('type="checkbox" name="id"') == 25


def test_list_has_no_bulk_controls_for_support(support_client):
    html = support_client.get("/customers/").content.decode()
    assert 'form="bulk-form"' not in html and "Export CSV" not in html


def test_support_cannot_bulk_update(support_client, sandbox_server):
    people = make_customers(sandbox_server, 1, city=unique("city"))
    assert support_client.get("/customers/bulk/", {"id": people[0]["id"]}).status_code == 403
    assert support_client.post("/customers/bulk/", {"id": people[0]["id"], "set-name": "X"}).status_code == 403
