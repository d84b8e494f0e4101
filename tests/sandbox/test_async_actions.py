"""Async actions: CSV import, bulk and metadata updates run in the background to DONE with per-row results."""

from __future__ import annotations

import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sandbox.models import Customer, CustomerEvent

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

ACTION = "/v1/async-actions/{asyncActionId}"


def url(path: str) -> str:
    return "/sandbox" + path


def upload(api, content: bytes, name: str = "customers.csv"):
    return api.post(url("/v1/customers/importCSV"), {"file": SimpleUploadedFile(name, content, "text/csv")})


def test_import_csv_creates_updates_and_reports_failures(api, wait_for_action, contract):
    existing = api.post(
        url("/v1/customers"), json.dumps({"source_id": "csv-2", "name": "Old"}), content_type="application/json"
    ).json()
    content = (
        b"source_id,NAME,Email,Birthdate,Address_City,address_country,Loyalty_Tier,favourite colour\n"
        b"csv-1,Ann,ann@example.com,1990-01-02,Warsaw,Poland,gold,blue\n"
        b"csv-2,Bob Updated,,,,,silver,\n"
        b"csv-3,Bad Date,,31/12/1990,,,,\n"
        b"\n"
        b"csv-4,Too,many,cells,a,b,c,d,e\n"
    )
    response = upload(api, content)
    contract.check("POST", "/v1/customers/importCSV", response)
    assert response.status_code == 202
    action_id = response.json()["async_action_id"]
    assert action_id.startswith("aa_") and len(action_id) == 21

    result = wait_for_action(action_id)
    assert result["status"] == "DONE" and result["progress"] == 100 and result["type"] == "CUSTOMERS.IMPORT_CSV"
    contract.check("GET", ACTION, api.get(url(f"/v1/async-actions/{action_id}")))
    assert result["result"]["done_count"] == 2 and result["result"]["failed_count"] == 2
    assert result["result"]["message"] == "2 customer(s) imported successfully, 2 failed."
    assert [(f["source_id"], f["row"]) for f in result["result"]["failed"]] == [("csv-3", 3), ("csv-4", 5)]

    ann = Customer.objects.get(source_id="csv-1")
    assert ann.email == "ann@example.com" and ann.address == {"city": "Warsaw", "country": "Poland"}
    assert ann.metadata == {"Loyalty_Tier": "gold", "favourite colour": "blue"}
    bob = Customer.objects.get(source_id="csv-2")
    assert bob.id == existing["id"] and bob.name == "Bob Updated" and bob.metadata == {"Loyalty_Tier": "silver"}
    assert CustomerEvent.objects.filter(customer_id=bob.id, type="customer.updated").exists()


def test_import_csv_in_other_encodings(api, wait_for_action):
    content = "Source_id;Name;Address_City\ncp-1;Zażółć Gęślą;Kraków\n".encode("cp1250")
    action_id = upload(api, content).json()["async_action_id"]
    assert wait_for_action(action_id)["result"]["done_count"] == 1
    assert Customer.objects.get(source_id="cp-1").name == "Zażółć Gęślą"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   \n",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"just,some,words\n1,2,3\n",
        b"Name,Name\nA,B\n",
        b'Name\n"unclosed\n',
    ],
)
def test_bad_csv_files_are_400(api, contract, content):
    response = upload(api, content)
    contract.check("POST", "/v1/customers/importCSV", response)
    assert response.status_code == 400 and response.json()["key"] in ("invalid_csv", "invalid_payload")


def test_import_without_file_is_400(api, contract):
    response = api.post(url("/v1/customers/importCSV"), {"other": "x"})
    contract.check("POST", "/v1/customers/importCSV", response)
    assert response.status_code == 400


def test_bulk_update_upserts_and_reports_errors(api, wait_for_action, contract):
    api.post(url("/v1/customers"), json.dumps({"source_id": "b-1", "name": "One"}), content_type="application/json")
    body = [
        {"source_id": "b-1", "email": "one@example.com", "metadata": {"x": 1}},
        {"source_id": "b-2", "name": "Two", "address": {"city": "Paris"}},
        {"name": "no source id"},
        {"source_id": "b-3", "name": 5},
        "not an object",
    ]
    response = api.post(url("/v1/customers/bulk/async"), json.dumps(body), content_type="application/json")
    contract.check("POST", "/v1/customers/bulk/async", response)
    assert response.status_code == 202
    result = wait_for_action(response.json()["async_action_id"])
    assert result["status"] == "DONE" and result["operation_status"] == "SUCCESS"
    assert result["result"]["done_count"] == 2 and result["result"]["failed_count"] == 3
    assert [e["source_id"] for e in result["result"]["errors"]] == ["", "b-3", ""]
    assert Customer.objects.get(source_id="b-1").name == "One"
    assert Customer.objects.get(source_id="b-1").email == "one@example.com"
    assert Customer.objects.get(source_id="b-2").address == {"city": "Paris"}
    contract.check("GET", ACTION, api.get(url(f"/v1/async-actions/{result['id']}")))


def test_metadata_update_merges_and_upserts(api, wait_for_action, contract):
    api.post(
        url("/v1/customers"),
        json.dumps({"source_id": "m-1", "metadata": {"keep": True, "tier": "bronze"}}),
        content_type="application/json",
    )
    body = {"source_ids": ["m-1", "m-new", ""], "metadata": {"tier": "gold", "score": 9.5}}
    response = api.post(url("/v1/customers/metadata/async"), json.dumps(body), content_type="application/json")
    contract.check("POST", "/v1/customers/metadata/async", response)
    result = wait_for_action(response.json()["async_action_id"])
    assert result["status"] == "DONE" and result["type"] == "CUSTOMERS.METADATA_UPDATE"
    assert result["result"]["done_count"] == 2 and result["result"]["failed_count"] == 1
    assert Customer.objects.get(source_id="m-1").metadata == {"keep": True, "tier": "gold", "score": 9.5}
    assert Customer.objects.get(source_id="m-new").metadata == {"tier": "gold", "score": 9.5}
    contract.check("GET", ACTION, api.get(url(f"/v1/async-actions/{result['id']}")))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/customers/bulk/async", {"not": "a list"}),
        ("/v1/customers/metadata/async", {"source_ids": "x", "metadata": {}}),
        ("/v1/customers/metadata/async", {"source_ids": ["x"]}),
        ("/v1/customers/metadata/async", []),
    ],
)
def test_bulk_bodies_of_the_wrong_shape_are_400(api, contract, path, body):
    response = api.post(url(path), json.dumps(body), content_type="application/json")
    contract.check("POST", path, response)
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/v1/customers/bulk/async", "/v1/customers/metadata/async"])
def test_bulk_bodies_over_10_mb_are_413(api, contract, path):
    huge = json.dumps([{"source_id": "x" * 1000}] * 10_600)
    response = api.post(url(path), huge, content_type="application/json")
    contract.check("POST", path, response)
    assert response.status_code == 413 and response.json()["statusCode"] == 413


def test_async_actions_list_and_lookup(api, wait_for_action, contract):
    ids = []
    for n in range(3):
        body = {"source_ids": [f"l-{n}"], "metadata": {"n": n}}
        response = api.post(url("/v1/customers/metadata/async"), json.dumps(body), content_type="application/json")
        ids.append(response.json()["async_action_id"])
        time.sleep(0.005)  # distinct created_at milliseconds keep the expected order
    for action_id in ids:
        wait_for_action(action_id)
    response = api.get(url("/v1/async-actions"), {"limit": 2})
    contract.check("GET", "/v1/async-actions", response)
    body = response.json()
    assert body["data_ref"] == "async_actions" and body["has_more"] is True
    assert [a["id"] for a in body["async_actions"]] == ids[::-1][:2]
    assert "result" not in body["async_actions"][0]
    older = api.get(url("/v1/async-actions"), {"end_date": body["async_actions"][-1]["created_at"]}).json()
    assert ids[0] in [a["id"] for a in older["async_actions"]] and ids[2] not in [
        a["id"] for a in older["async_actions"]
    ]
    bad = api.get(url("/v1/async-actions"), {"limit": 0})
    contract.check("GET", "/v1/async-actions", bad)
    assert bad.status_code == 400
    missing = api.get(url("/v1/async-actions/aa_000000000000000000"))
    contract.check("GET", ACTION, missing)
    assert missing.status_code == 404 and missing.json()["resource_type"] == "async_action"
