"""Customer exports in-process: filters, fields, order, the CSV, tokens, listing, deletion, restarts and the
Exports contract for every response."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from sandbox import exports
from sandbox.api import now
from sandbox.models import Export

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

EXPORTS = "/v1/exports"
EXPORT = "/v1/exports/{exportId}"
DOWNLOAD = "/v1/exports/{export_Id}"


def url(path: str) -> str:
    return "/sandbox" + path


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.SANDBOX_EXPORTS_DIR = tmp_path / "exports"
    return settings.SANDBOX_EXPORTS_DIR


def post_export(api, body):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return api.post(url(EXPORTS), data, content_type="application/json")


@pytest.fixture
def wait_for_export(api, exports_contract):
    """Polls an export (checking each answer against the contract) until it is DONE or ERROR."""

    def wait(export_id: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            response = api.get(url(f"/v1/exports/{export_id}"))
            exports_contract.check("GET", EXPORT, response)
            body = response.json()
            if body["status"] in ("DONE", "ERROR") or time.monotonic() > deadline:
                return body
            time.sleep(0.02)

    return wait


@pytest.fixture
def download(exports_contract):
    """The rows of a DONE export's CSV, fetched from its ``result.url`` with no application keys."""

    def fetch(export: dict) -> list[list[str]]:
        parts = urlsplit(export["result"]["url"])
        response = Client().get(parts.path, dict(parse_qsl(parts.query)))
        exports_contract.check("GET", DOWNLOAD, response)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))

    return fetch


@pytest.fixture
def export_rows(api, exports_contract, wait_for_export, download):
    """Runs a customer export with these parameters and returns its CSV rows (header first)."""

    def run(parameters: dict | None = None, *, check_contract: bool = True) -> list[list[str]]:
        body = {"exported_object": "customer"}
        if parameters is not None:
            body["parameters"] = parameters
        response = post_export(api, body)
        if check_contract:
            exports_contract.check("POST", EXPORTS, response)
        assert response.status_code == 200, response.content
        done = wait_for_export(response.json()["id"]) if check_contract else _wait_quietly(api, response.json()["id"])
        assert done["status"] == "DONE", done
        return download(done)

    return run


def _wait_quietly(api, export_id: str) -> dict:
    """Polling for exports whose echoed filters hold booleans: the contract's ``Any`` has no boolean item, so
    such a (request and) response is outside the contract, like the request itself."""
    deadline = time.monotonic() + 30
    while True:
        body = api.get(url(f"/v1/exports/{export_id}")).json()
        if body["status"] in ("DONE", "ERROR") or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def create_customer(api, **body) -> dict:
    response = api.post(url("/v1/customers"), json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


PEOPLE = [
    {
        "source_id": "ann",
        "name": "Ann Łukasz",
        "email": "Ann@Example.com",
        "phone": "+48 500 100 200",
        "birthdate": "1990-05-01",
        "description": 'Says "hi", often',
        "address": {
            "city": "Kraków",
            "state": "Małopolskie",
            "line_1": "Rynek 1",
            "country": "Poland",
            "postal_code": "31-001",
        },
        "metadata": {
            "tier": "Gold",
            "ltv": 1200,
            "vip": True,
            "score": 9.5,
            "joined": "2023-04-01T10:00:00Z",
            "prefs": {"lang": "pl"},
            "język ulubiony": "Polski",
        },
    },
    {
        "source_id": "bob",
        "name": "Bob Stone",
        "email": "bob@example.org",
        "phone": "+1 555 0100",
        "birthdate": "1985-12-24",
        "address": {"city": "Berlin", "country": "Germany", "line_2": "Hinterhaus"},
        "metadata": {"tier": "silver", "ltv": 300, "vip": False, "score": 5, "joined": "2024-01-15"},
    },
    {
        "source_id": "CRM-ÉVA",
        "name": "Éva Östlund",
        "email": "eva@example.com",
        "address": {"city": "KRAKÓW"},
        "metadata": {"tier": "", "ltv": "1200", "prefs": {"lang": "de"}},
    },
    {"source_id": "dan", "name": ""},
]
ALL = {"ann", "bob", "CRM-ÉVA", "dan"}


@pytest.fixture
def people(api) -> dict[str, dict]:
    created = {}
    for person in PEOPLE:
        created[person["source_id"]] = create_customer(api, **person)
        time.sleep(0.002)  # distinct created_at milliseconds for the date conditions
    return created


def ids_of(rows: list[list[str]]) -> set[str]:
    return {row[0] for row in rows[1:]}


def cond(field: str, op: str, value) -> dict:
    return {field: {"conditions": {op: value}}}


TEXT_CASES = [
    (cond("name", "$is", ["ann łUKASZ"]), {"ann"}),
    (cond("name", "$is", "bob stone"), {"bob"}),  # a scalar stands for a one-element list
    (cond("name", "$is_not", ["bob stone"]), {"ann", "CRM-ÉVA"}),  # dan's empty name is missing
    (cond("name", "$in", ["ann łukasz", "BOB STONE", "nobody"]), {"ann", "bob"}),
    (cond("name", "$not_in", ["ann łukasz"]), {"bob", "CRM-ÉVA"}),
    (cond("name", "$contains", ["ÖST"]), {"CRM-ÉVA"}),
    (cond("name", "$not_contain", ["o"]), {"ann", "CRM-ÉVA"}),  # ö is not o
    (cond("name", "$starts_with", ["éVA"]), {"CRM-ÉVA"}),
    (cond("name", "$ends_with", ["STONE"]), {"bob"}),
    (cond("name", "$has_value", []), {"ann", "bob", "CRM-ÉVA"}),
    (cond("name", "$is_unknown", []), {"dan"}),
    (cond("name", "$contains", ["%"]), set()),  # LIKE wildcards are plain characters
    (cond("email", "$is", ["ANN@example.COM"]), {"ann"}),
    (cond("email", "$in", ["ann@example.com", "EVA@example.com"]), {"ann", "CRM-ÉVA"}),
    (cond("email", "$not_in", ["ann@example.com"]), {"bob", "CRM-ÉVA"}),
    (cond("email", "$ends_with", [".ORG"]), {"bob"}),
    (cond("email", "$is_unknown", []), {"dan"}),
    (cond("phone", "$starts_with", ["+48"]), {"ann"}),
    (cond("phone", "$contains", ["555"]), {"bob"}),
    (cond("phone", "$is_unknown", []), {"CRM-ÉVA", "dan"}),
    (cond("phone", "$not_contain", ["555"]), {"ann"}),
    (cond("source_id", "$is", ["crm-éva"]), {"CRM-ÉVA"}),  # É folds to é (SQLite's LOWER would not)
    (cond("source_id", "$in", ["ANN", "Dan"]), {"ann", "dan"}),
    (cond("source_id", "$is_not", ["ann"]), {"bob", "CRM-ÉVA", "dan"}),
    (cond("city", "$is", ["kraków"]), {"ann", "CRM-ÉVA"}),
    (cond("city", "$is_unknown", []), {"dan"}),
    (cond("address.city", "$is_not", ["BERLIN"]), {"ann", "CRM-ÉVA"}),
    (cond("address.city", "$starts_with", ["KRAK"]), {"ann", "CRM-ÉVA"}),
    (cond("address.state", "$is", ["MAŁOPOLSKIE"]), {"ann"}),  # Ł folds to ł in a JSON column too
    (cond("address.state", "$contains", ["POLSK"]), {"ann"}),
    (cond("address.country", "$in", ["poland", "germany"]), {"ann", "bob"}),
    (cond("address.country", "$not_in", ["poland"]), {"bob"}),
    (cond("address.line_1", "$ends_with", [" 1"]), {"ann"}),
    (cond("address.line_1", "$is_unknown", []), {"bob", "CRM-ÉVA", "dan"}),
    (cond("address.line_2", "$has_value", []), {"bob"}),
    (cond("address.line_2", "$not_contain", ["haus"]), set()),
    (cond("address.postal_code", "$starts_with", ["31-"]), {"ann"}),
]

METADATA_CASES = [
    (cond("metadata.tier", "$is", ["GOLD"]), {"ann"}),
    (cond("metadata.tier", "$is_not", ["gold"]), {"bob"}),  # "" and an absent key are missing
    (cond("metadata.tier", "$in", ["gold", "Silver"]), {"ann", "bob"}),
    (cond("metadata.tier", "$not_in", ["silver"]), {"ann"}),
    (cond("metadata.tier", "$contains", ["ILV"]), {"bob"}),
    (cond("metadata.tier", "$not_contain", ["ilv"]), {"ann"}),
    (cond("metadata.tier", "$starts_with", ["go"]), {"ann"}),
    (cond("metadata.tier", "$ends_with", ["ER"]), {"bob"}),
    (cond("metadata.tier", "$has_value", []), {"ann", "bob"}),
    (cond("metadata.tier", "$is_unknown", []), {"CRM-ÉVA", "dan"}),
    (cond("metadata.ltv", "$is", [1200]), {"ann"}),  # the string "1200" is no number
    (cond("metadata.ltv", "$is", ["1200"]), {"CRM-ÉVA"}),
    (cond("metadata.ltv", "$in", [300, 1200]), {"ann", "bob"}),
    (cond("metadata.ltv", "$more_than", [300]), {"ann"}),
    (cond("metadata.ltv", "$more_than_equal", [300]), {"ann", "bob"}),
    (cond("metadata.ltv", "$less_than", [1200]), {"bob"}),
    (cond("metadata.ltv", "$less_than_equal", [1200.0]), {"ann", "bob"}),
    (cond("metadata.score", "$in", [5, 9.5]), {"ann", "bob"}),
    (cond("metadata.score", "$not_in", [5]), {"ann"}),
    (cond("metadata.score", "$more_than", [5.5]), {"ann"}),
    (cond("metadata.prefs.lang", "$is", ["PL"]), {"ann"}),
    (cond("metadata.prefs.lang", "$not_contain", ["p"]), {"CRM-ÉVA"}),
    (cond("metadata.prefs", "$has_value", []), {"ann", "CRM-ÉVA"}),
    (cond("metadata.joined", "$after", ["2023-12-31"]), {"bob"}),
    (cond("metadata.joined", "$before", ["2024-01-01T00:00:00Z"]), {"ann"}),
    (cond("metadata.nothing", "$is_unknown", []), ALL),
    (cond("metadata.język ulubiony", "$is", ["POLSKI"]), {"ann"}),
]

JUNCTION_CASES = [
    (
        {"junction": "or", **cond("name", "$is", ["bob stone"]), **cond("metadata.tier", "$is", ["gold"])},
        {"ann", "bob"},
    ),
    ({"junction": "and", **cond("city", "$is", ["kraków"]), **cond("metadata.ltv", "$is", [1200])}, {"ann"}),
    ({**cond("city", "$is", ["kraków"]), **cond("metadata.ltv", "$is", ["1200"])}, {"CRM-ÉVA"}),  # and by default
    ({"name": {"conditions": {"$starts_with": ["b"], "$ends_with": ["e"]}}}, {"bob"}),
    ({"name": {"conditions": {"$starts_with": ["b"], "$ends_with": ["x"]}}}, set()),
    (
        {
            "junction": "or",
            "name": {"conditions": {"$starts_with": ["a"], "$ends_with": ["z"]}},
            **cond("email", "$is", ["bob@example.org"]),
        },
        {"ann", "bob"},
    ),  # fmt: skip
    ({"junction": "or", "name": {"conditions": {}}, **cond("email", "$is", ["bob@example.org"])}, {"bob"}),
    ({"junction": "and"}, ALL),
]


def test_text_address_metadata_and_junction_filters(people, export_rows):
    """Every case runs as its own export; all are created first and run one after another in the background."""
    failures = []
    for filters, expected in TEXT_CASES + METADATA_CASES + JUNCTION_CASES:
        found = ids_of(export_rows({"fields": ["source_id"], "filters": filters}))
        if found != expected:
            failures.append((filters, expected, found))
    assert failures == []


def test_metadata_booleans_compare_by_json_value(people, export_rows):
    def found(op, value):
        rows = export_rows({"fields": ["source_id"], "filters": cond("metadata.vip", op, value)}, check_contract=False)
        return ids_of(rows)

    assert found("$is", [True]) == {"ann"}
    assert found("$is", False) == {"bob"}
    assert found("$is_not", [True]) == {"bob"}
    assert found("$in", [True, 1200]) == {"ann"}
    assert found("$has_value", True) == {"ann", "bob"}
    # 1 is not true: SQLite's JSON_EXTRACT reads true as 1, the filter does not.
    assert ids_of(export_rows({"fields": ["source_id"], "filters": cond("metadata.vip", "$is", [1])})) == set()


def test_date_filters(people, export_rows):
    bob = people["bob"]["created_at"]
    day = people["ann"]["created_at"][:10]
    cases = [
        (cond("created_at", "$after", [bob]), {"CRM-ÉVA", "dan"}),
        (cond("created_at", "$before", [bob]), {"ann"}),
        (cond("created_at", "$is", [bob]), {"bob"}),
        (cond("created_at", "$more_than", [bob]), {"CRM-ÉVA", "dan"}),
        (cond("created_at", "$more_than_equal", [bob]), {"bob", "CRM-ÉVA", "dan"}),
        (cond("created_at", "$less_than", [bob]), {"ann"}),
        (cond("created_at", "$less_than_equal", [bob.replace("Z", "+00:00")]), {"ann", "bob"}),
        (cond("created_at", "$is", [day]), {p for p, c in people.items() if c["created_at"][:10] == day}),
        (cond("created_at", "$after", ["2100-01-01"]), set()),
        (cond("created_at", "$has_value", []), ALL),
        (cond("created_at", "$is_unknown", []), set()),
        # The contract types updated_at's values as dates (format: date); date-times are tested apart below.
        (cond("updated_at", "$after", ["2000-01-01"]), ALL),
        (cond("updated_at", "$before", ["2000-01-01"]), set()),
        (cond("updated_at", "$is", [day]), {p for p, c in people.items() if c["updated_at"][:10] == day}),
        (cond("birthdate", "$after", ["1988-01-01"]), {"ann"}),
        (cond("birthdate", "$before", ["1988-01-01"]), {"bob"}),
        (cond("birthdate", "$is", ["1985-12-24"]), {"bob"}),
        (cond("birthdate", "$is", ["1985-12-24T00:00:00Z"]), {"bob"}),
        (cond("birthdate", "$more_than_equal", ["1990-05-01"]), {"ann"}),
        (cond("birthdate", "$less_than", ["1990-05-01"]), {"bob"}),
        (cond("birthdate", "$less_than_equal", ["1990-05-01"]), {"ann", "bob"}),
        (cond("birthdate", "$has_value", []), {"ann", "bob"}),
        (cond("birthday", "$is_unknown", []), {"CRM-ÉVA", "dan"}),
    ]
    failures = []
    for filters, expected in cases:
        found = ids_of(export_rows({"fields": ["source_id"], "filters": filters}))
        if found != expected:
            failures.append((filters, expected, found))
    assert failures == []
    # Outside the contract (which wants plain dates for updated_at) but what Voucherify's own example sends.
    found = export_rows({"fields": ["source_id"], "filters": cond("updated_at", "$is", [people["bob"]["updated_at"]])},
                        check_contract=False)  # fmt: skip
    assert ids_of(found) == {"bob"}


def test_every_field_in_the_order_asked(api, people, export_rows, wait_for_export):
    ann = people["ann"]
    api.put(url("/v1/customers/ann"), '{"phone": "+48 500 100 200"}', content_type="application/json")
    fields = list(exports.FIELDS)[::-1]
    rows = export_rows({"fields": fields, "filters": cond("source_id", "$in", ["ann", "dan"]), "order": "source_id"})
    assert rows[0] == fields and len(rows) == 3
    cells = dict(zip(fields, rows[1], strict=True))
    fresh = api.get(url("/v1/customers/ann")).json()
    assert cells["id"] == ann["id"] and cells["name"] == "Ann Łukasz" and cells["source_id"] == "ann"
    assert cells["email"] == "Ann@Example.com" and cells["phone"] == "+48 500 100 200"
    assert cells["description"] == 'Says "hi", often'
    assert cells["created_at"] == ann["created_at"] and cells["updated_at"] == fresh["updated_at"]
    assert cells["created_at"].endswith("Z") and len(cells["created_at"]) == 24
    assert cells["birthdate"] == cells["birthday"] == "1990-05-01"
    assert cells["address_city"] == "Kraków" and cells["address_state"] == "Małopolskie"
    assert cells["address_line_1"] == "Rynek 1" and cells["address_line_2"] == ""
    assert cells["address_country"] == "Poland" and cells["address_postal_code"] == "31-001"
    assert all(cells[f"redemptions_{key}"] == "0" for key in exports._REDEMPTIONS)
    assert cells["orders_total_amount"] == cells["orders_total_count"] == cells["orders_average_amount"] == "0"
    assert cells["orders_last_order_amount"] == "0" and cells["orders_last_order_date"] == ""
    assert cells["loyalty_points"] == cells["loyalty_referred_customers"] == "0"
    assert json.loads(cells["metadata"]) == PEOPLE[0]["metadata"] and ": " not in cells["metadata"]
    dan = dict(zip(fields, rows[2], strict=True))
    assert dan["source_id"] == "dan" and dan["email"] == dan["birthdate"] == dan["address_city"] == ""
    assert dan["metadata"] == "" and dan["name"] == ""


def test_summary_and_loyalty_figures_of_seeded_customers(seeded, export_rows):
    from sandbox.models import Customer

    fields = ["id", "redemptions_total_redeemed", "orders_total_amount", "orders_last_order_date", "loyalty_points"]
    rows = export_rows({"fields": fields})
    assert len(rows) == 41
    by_id = {row[0]: row for row in rows[1:]}
    for customer in Customer.objects.all():
        row = by_id[customer.id]
        assert row[1] == str(customer.summary["redemptions"]["total_redeemed"])
        assert row[2] == str(customer.summary["orders"]["total_amount"])
        assert row[3] == customer.summary["orders"].get("last_order_date", "")
        assert row[4] == str(customer.loyalty["points"])


def test_default_fields_order_and_echoed_parameters(api, people, exports_contract, wait_for_export, download):
    response = post_export(api, {"exported_object": "customer"})
    exports_contract.check("POST", EXPORTS, response)
    scheduled = response.json()
    assert scheduled["id"].startswith("exp_") and len(scheduled["id"]) == 28 and scheduled["id"][4:].isalnum()
    assert scheduled["object"] == "export" and scheduled["status"] == "SCHEDULED" and scheduled["result"] is None
    assert scheduled["channel"] == "API" and scheduled["user_id"] == "" and scheduled["exported_object"] == "customer"
    assert scheduled["parameters"] == {
        "order": "created_at",
        "fields": ["name", "source_id"],
        "filters": {"junction": "and"},
    }
    assert scheduled["created_at"].endswith("Z")
    done = wait_for_export(scheduled["id"])
    assert done["status"] == "DONE" and done["parameters"] == scheduled["parameters"]
    assert done["result"]["url"].startswith(f"http://testserver/sandbox/v1/exports/{done['id']}?token=")
    rows = download(done)
    assert rows == [["name", "source_id"]] + [[p["name"], p["source_id"]] for p in PEOPLE]
    record = Export.objects.get(id=done["id"])
    assert record.rows == 4 and record.file_name == f"{done['id']}.csv"


def test_scalars_are_echoed_as_lists(api, exports_contract):
    filters = {"name": {"conditions": {"$is": "Ann"}}, "created_at": {"conditions": {"$after": "2024-01-01"}}}
    response = post_export(api, {"exported_object": "customer", "parameters": {"filters": filters, "order": ""}})
    exports_contract.check("POST", EXPORTS, response)
    assert response.json()["parameters"]["filters"] == {
        "junction": "and",
        "name": {"conditions": {"$is": ["Ann"]}},
        "created_at": {"conditions": {"$after": ["2024-01-01"]}},
    }
    assert response.json()["parameters"]["order"] == "created_at"


@pytest.mark.parametrize(
    ("order", "key"),
    [
        ("name", lambda p: p["name"].lower()),
        ("-name", lambda p: p["name"].lower()),
        ("email", lambda p: p.get("email", "").lower()),
        ("-email", lambda p: p.get("email", "").lower()),
        ("source_id", lambda p: p["source_id"]),
        ("-source_id", lambda p: p["source_id"]),
        ("created_at", lambda p: p["created_at"]),
        ("-created_at", lambda p: p["created_at"]),
        ("updated_at", lambda p: (p["updated_at"], p["id"])),
        ("-updated_at", lambda p: (p["updated_at"], p["id"])),
        ("id", lambda p: p["id"]),
        ("-id", lambda p: p["id"]),
    ],
)
def test_orders(people, export_rows, order, key):
    rows = export_rows({"fields": ["source_id"], "order": order})
    expected = sorted(people.values(), key=lambda p: key({**PEOPLE_BY_ID[p["source_id"]], **p}))
    if order.startswith("-"):
        expected.reverse()
    assert [row[0] for row in rows[1:]] == [p["source_id"] for p in expected]


PEOPLE_BY_ID = {p["source_id"]: p for p in PEOPLE}


def test_ties_are_broken_by_id(api, export_rows):
    twins = [create_customer(api, source_id=f"twin-{n}", name="Same Name") for n in range(6)]
    by_id = sorted(c["id"] for c in twins)
    ascending = export_rows({"fields": ["id"], "order": "name"})
    assert [row[0] for row in ascending[1:]] == by_id
    descending = export_rows({"fields": ["id"], "order": "-name"})
    assert [row[0] for row in descending[1:]] == by_id[::-1]


def test_csv_quotes_commas_quotes_and_newlines(api, export_rows):
    create_customer(api, source_id="q", name='Smith, "Jo"\nSecond line', metadata={"note": "a,b"})
    rows = export_rows({"fields": ["name", "metadata"]})
    assert rows == [["name", "metadata"], ['Smith, "Jo"\nSecond line', '{"note":"a,b"}']]


def customers_with(**parameters) -> dict:
    return {"exported_object": "customer", "parameters": parameters}


BAD_BODIES = [
    ("[]", "invalid_payload", "JSON object"),
    ('"customer"', "invalid_payload", "JSON object"),
    ("", "invalid_payload", "JSON object"),
    ("{not json", "invalid_payload", "Malformed JSON"),
    ({}, "invalid_payload", "exported_object"),
    ({"exported_object": "voucher"}, "invalid_payload", "voucher"),
    ({"exported_object": "redemption"}, "invalid_payload", "redemption"),
    ({"exported_object": 5}, "invalid_payload", "exported_object"),
    ({"exported_object": "customer", "extra": 1}, "invalid_payload", "extra"),
    ({"exported_object": "customer", "parameters": []}, "invalid_payload", "parameters"),
    (customers_with(campaign_id="camp_1"), "invalid_payload", "campaign_id"),
    (customers_with(response_format="JSON"), "invalid_payload", "response_format"),
    (customers_with(fields=["shoe_size"]), "invalid_export_fields", "shoe_size"),
    (customers_with(fields=["metadata.tier"]), "invalid_export_fields", "metadata.tier"),
    (customers_with(fields=["id", "id"]), "invalid_export_fields", "id"),
    (customers_with(fields="name"), "invalid_payload", "fields"),
    (customers_with(fields=[1]), "invalid_payload", "fields"),
    (customers_with(order="-shoe_size"), "invalid_payload", "-shoe_size"),
    (customers_with(order=["name"]), "invalid_payload", "order"),
    (customers_with(filters=[]), "invalid_payload", "filters"),
]


@pytest.mark.parametrize(("body", "key", "named"), BAD_BODIES)
def test_bad_bodies_are_400_naming_the_problem(api, exports_contract, body, key, named):
    response = post_export(api, body)
    exports_contract.check("POST", EXPORTS, response)
    error = response.json()
    assert response.status_code == 400 and error["key"] == key and named in error["details"], error
    assert not Export.objects.exists()


def test_unknown_field_lists_the_allowed_ones(api, exports_contract):
    response = post_export(api, {"exported_object": "customer", "parameters": {"fields": ["name", "shoe"]}})
    exports_contract.check("POST", EXPORTS, response)
    error = response.json()
    assert error["message"] == "Invalid Export" and error["code"] == 400
    assert "shoe" in error["details"] and "loyalty_points" in error["details"] and "address_city" in error["details"]


BAD_FILTERS = [
    (cond("shoe_size", "$is", ["42"]), ["shoe_size"]),
    (cond("address.planet", "$is", ["Mars"]), ["address.planet"]),
    (cond("metadata.", "$is", ["x"]), ["metadata."]),
    (cond("name", "$like", ["a"]), ["name", "$like"]),
    (cond("metadata.tier", "$count", [1]), ["metadata.tier", "$count"]),
    (cond("name", "$after", ["2024-01-01"]), ["name", "$after"]),
    (cond("email", "$more_than", ["a"]), ["email", "$more_than"]),
    (cond("created_at", "$contains", ["2024"]), ["created_at", "$contains"]),
    (cond("birthdate", "$in", ["1990-01-01"]), ["birthdate", "$in"]),
    (cond("updated_at", "$starts_with", ["2024"]), ["updated_at", "$starts_with"]),
    (cond("created_at", "$after", ["yesterday"]), ["created_at", "$after", "yesterday"]),
    (cond("created_at", "$before", [20240101]), ["created_at", "$before"]),
    (cond("birthdate", "$is", ["1990-02-30"]), ["birthdate", "$is"]),
    (cond("name", "$is", ["a", "b"]), ["name", "$is"]),
    (cond("name", "$is", [5]), ["name", "$is"]),
    (cond("phone", "$in", ["1", None]), ["phone", "$in"]),
    (cond("metadata.ltv", "$more_than", ["100"]), ["metadata.ltv", "$more_than"]),
    (cond("metadata.ltv", "$is", [None]), ["metadata.ltv", "$is"]),
    (cond("metadata.ltv", "$is", [{"a": 1}]), ["metadata.ltv", "$is"]),
    (cond("metadata.joined", "$after", ["soon"]), ["metadata.joined", "$after"]),
    (cond("metadata.tier", "$contains", [1]), ["metadata.tier", "$contains"]),
    ({"junction": "xor"}, ["junction"]),
    ({"name": {"$is": ["a"]}}, ["name", "conditions"]),
    ({"name": {"conditions": {"$is": ["a"]}, "negate": True}}, ["name", "negate"]),
    ({"name": {"conditions": ["$is"]}}, ["name", "conditions"]),
]


@pytest.mark.parametrize(("filters", "named"), BAD_FILTERS)
def test_bad_filters_are_400_naming_field_and_operator(api, exports_contract, filters, named):
    response = post_export(api, {"exported_object": "customer", "parameters": {"filters": filters}})
    exports_contract.check("POST", EXPORTS, response)
    error = response.json()
    assert response.status_code == 400 and error["key"] == "invalid_payload", error
    assert all(name in error["details"] for name in named), error["details"]
    assert not Export.objects.exists()


def test_download_needs_the_right_token(api, people, export_rows, exports_contract, wait_for_export):
    export = wait_for_export(post_export(api, {"exported_object": "customer"}).json()["id"])
    anonymous = Client()
    path = url(f"/v1/exports/{export['id']}")
    for token in ("", "wrong", export["result"]["url"].split("token=")[1][:-1]):
        response = anonymous.get(path, {"token": token})
        exports_contract.check("GET", DOWNLOAD, response)
        assert response.status_code == 401
        assert response.json() == {"code": 401, "message": "Unauthorized", "key": "unauthorized"}
    unknown = anonymous.get(url("/v1/exports/exp_000000000000000000000000"), {"token": "x"})
    exports_contract.check("GET", DOWNLOAD, unknown)
    assert unknown.status_code == 401
    # Without a token it is the export itself, which needs the application keys.
    without = anonymous.get(path)
    exports_contract.check("GET", EXPORT, without)
    assert without.status_code == 401 and without.json()["key"] == "unauthorized"
    # A token does not stand in for the keys on DELETE.
    token = export["result"]["url"].split("token=")[1]
    delete = anonymous.delete(path + f"?token={token}")
    exports_contract.check("DELETE", EXPORT, delete)
    assert delete.status_code == 401 and Export.objects.filter(id=export["id"]).exists()
    head = anonymous.head(path, {"token": token})
    assert head.status_code == 200 and head.content == b"" and int(head["Content-Length"]) > 0


def test_download_of_an_unfinished_export_is_404(api, exports_contract):
    moment = now()
    export = Export.objects.create(
        id=exports.new_export_id(),
        exported_object="customer",
        parameters={"fields": ["name"], "order": "created_at", "filters": {"junction": "and"}},
        token="tok",
        runner=f"{socket.gethostname()}:{os.getpid()}:" + _ticks(),
        heartbeat_at=moment,
        request_id="v-0",
        created_at=moment,
        updated_at=moment,
    )
    response = Client().get(url(f"/v1/exports/{export.id}"), {"token": "tok"})
    exports_contract.check("GET", DOWNLOAD, response)
    error = response.json()
    assert response.status_code == 404 and error["key"] == "not_found" and "SCHEDULED" in error["details"]
    assert error["resource_id"] == export.id
    polled = api.get(url(f"/v1/exports/{export.id}"))
    exports_contract.check("GET", EXPORT, polled)
    assert polled.json()["status"] == "SCHEDULED" and polled.json()["result"] is None  # its runner is alive


def _ticks() -> str:
    from sandbox.background import runner_id

    return runner_id().rsplit(":", 1)[1]


def test_file_is_a_snapshot(api, people, export_rows, wait_for_export, download):
    export = wait_for_export(post_export(api, customers_with(fields=["source_id", "name"])).json()["id"])
    before = download(export)
    api.put(url("/v1/customers/ann"), json.dumps({"name": "Renamed"}), content_type="application/json")
    create_customer(api, source_id="late", name="Late")
    api.delete(url("/v1/customers/bob"))
    assert download(export) == before
    assert ["ann", "Ann Łukasz"] in before and len(before) == 5


def test_failed_export_is_error_with_the_reason(api, settings, tmp_path, exports_contract, wait_for_export):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.SANDBOX_EXPORTS_DIR = blocker / "exports"
    export = wait_for_export(post_export(api, {"exported_object": "customer"}).json()["id"])
    assert export["status"] == "ERROR" and export["result"] is None
    assert export["error"]["details"] and Export.objects.get(id=export["id"]).error
    response = Client().get(url(f"/v1/exports/{export['id']}"), {"token": Export.objects.get(id=export["id"]).token})
    exports_contract.check("GET", DOWNLOAD, response)
    assert response.status_code == 404 and "ERROR" in response.json()["details"]


def test_list_paging_and_orders(api, exports_contract, wait_for_export):
    ids = []
    for _ in range(3):
        ids.append(post_export(api, {"exported_object": "customer"}).json()["id"])
        time.sleep(0.002)
    for export_id in ids:
        wait_for_export(export_id)
    response = api.get(url(EXPORTS))
    exports_contract.check("GET", EXPORTS, response)
    body = response.json()
    assert body["object"] == "list" and body["data_ref"] == "exports" and body["total"] == 3
    assert [e["id"] for e in body["exports"]] == ids[::-1]
    assert all(e["result"]["url"].startswith("http://testserver/sandbox/v1/exports/") for e in body["exports"])
    first = api.get(url(EXPORTS), {"limit": 2}).json()
    second = api.get(url(EXPORTS), {"limit": 2, "page": 2}).json()
    assert [e["id"] for e in first["exports"]] == ids[::-1][:2] and [e["id"] for e in second["exports"]] == ids[:1]
    assert first["total"] == second["total"] == 3
    ascending = api.get(url(EXPORTS), {"order": "created_at"})
    exports_contract.check("GET", EXPORTS, ascending)
    assert [e["id"] for e in ascending.json()["exports"]] == ids
    Export.objects.filter(id=ids[1]).update(status="ERROR", error="x")
    by_status = api.get(url(EXPORTS), {"order": "status"}).json()["exports"]
    assert [e["status"] for e in by_status] == ["DONE", "DONE", "ERROR"]
    assert [e["status"] for e in api.get(url(EXPORTS), {"order": "-status"}).json()["exports"]][0] == "ERROR"
    for params in ({"limit": 0}, {"limit": 101}, {"page": 0}, {"order": "name"}, {"limit": "x"}):
        bad = api.get(url(EXPORTS), params)
        exports_contract.check("GET", EXPORTS, bad)
        assert bad.status_code == 400 and bad.json()["key"] == "invalid_query_params"


def test_result_url_follows_the_client(api, wait_for_export):
    export = wait_for_export(post_export(api, {"exported_object": "customer"}).json()["id"])
    secure = api.get(url(f"/v1/exports/{export['id']}"), secure=True).json()
    assert secure["result"]["url"].startswith(f"https://testserver/sandbox/v1/exports/{export['id']}?token=")
    assert Export.objects.get(id=export["id"]).token in secure["result"]["url"]


def test_delete_removes_the_export_and_its_file(api, people, exports_contract, exports_dir, wait_for_export):
    export = wait_for_export(post_export(api, {"exported_object": "customer"}).json()["id"])
    token = Export.objects.get(id=export["id"]).token
    assert (exports_dir / f"{export['id']}.csv").exists()
    response = api.delete(url(f"/v1/exports/{export['id']}"))
    exports_contract.check("DELETE", EXPORT, response)
    assert response.status_code == 204 and response.content == b""
    assert not (exports_dir / f"{export['id']}.csv").exists() and os.listdir(exports_dir) == []
    for method in ("get", "delete"):
        again = getattr(api, method)(url(f"/v1/exports/{export['id']}"))
        exports_contract.check(method.upper(), EXPORT, again)
        assert again.status_code == 404 and again.json()["resource_type"] == "export"
    gone = Client().get(url(f"/v1/exports/{export['id']}"), {"token": token})
    exports_contract.check("GET", DOWNLOAD, gone)
    assert gone.status_code == 401


def test_wrong_methods_and_missing_keys(api, exports_contract):
    response = api.put(url(EXPORTS), "{}", content_type="application/json")
    assert response.status_code == 405 and response.json()["key"] == "method_not_allowed"
    missing = Client().post(url(EXPORTS), json.dumps({"exported_object": "customer"}), content_type="application/json")
    exports_contract.check("POST", EXPORTS, missing)
    assert missing.status_code == 401 and not Export.objects.exists()
    listed = Client().get(url(EXPORTS))
    exports_contract.check("GET", EXPORTS, listed)
    assert listed.status_code == 401


def _orphan(status: str, **fields) -> Export:
    """An export as a process that died mid-way left it: its runner (this host, a pid that is gone) is dead."""
    moment = now()
    return Export.objects.create(
        id=exports.new_export_id(),
        exported_object="customer",
        parameters={"fields": ["source_id"], "order": "-source_id", "filters": {"junction": "and"}},
        token="tok",
        status=status,
        runner=f"{socket.gethostname()}:999999999:1",
        heartbeat_at=moment,
        request_id="v-0",
        created_at=moment,
        updated_at=moment,
        **fields,
    )


def test_polling_an_orphan_runs_it_again_here(api, people, exports_dir, wait_for_export, download):
    exports_dir.mkdir(parents=True)
    orphan = _orphan("IN_PROGRESS")
    (exports_dir / f"{orphan.id}.csv.part").write_text("half a file")
    done = wait_for_export(orphan.id)
    assert done["status"] == "DONE"
    assert download(done) == [["source_id"], ["dan"], ["bob"], ["ann"], ["CRM-ÉVA"]]  # binary order
    assert sorted(os.listdir(exports_dir)) == [f"{orphan.id}.csv"]
    assert Export.objects.get(id=orphan.id).runner.startswith(f"{socket.gethostname()}:{os.getpid()}:")


def test_recover_orphans_picks_up_every_unfinished_export(api, people, wait_for_export):
    scheduled, running = _orphan("SCHEDULED"), _orphan("IN_PROGRESS")
    finished = _orphan("DONE", rows=0, file_name="x.csv")
    exports.recover_orphans()
    assert wait_for_export(scheduled.id)["status"] == "DONE"
    assert wait_for_export(running.id)["status"] == "DONE"
    assert Export.objects.get(id=finished.id).runner.endswith(":999999999:1")  # left alone


def test_an_export_deleted_while_queued_leaves_no_file(api, people, exports_dir, wait_for_export):
    first = post_export(api, {"exported_object": "customer"}).json()["id"]
    second = post_export(api, {"exported_object": "customer"}).json()["id"]
    api.delete(url(f"/v1/exports/{second}"))
    wait_for_export(first)
    for thread in threading.enumerate():
        if thread.name == f"sandbox-{second}":
            thread.join(10)
    assert os.listdir(exports_dir) == [f"{first}.csv"]
