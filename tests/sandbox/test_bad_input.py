"""Bad input gets a 4xx in Voucherify's error shape (never a 500), and the sandbox honours its settings."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

GET_ENDPOINTS = [
    ("/v1/customers", "/v1/customers"),
    ("/v1/customers/c1", "/v1/customers/{customerId}"),
    ("/v1/customers/c1/activity", "/v1/customers/{customerId}/activity"),
    ("/v1/customers/c1/activities", "/v1/customers/{customerId}/activities"),
    ("/v1/customers/c1/redeemables", "/v1/customers/{customerId}/redeemables"),
    ("/v1/customers/c1/segments", "/v1/customers/{customerId}/segments"),
    ("/v1/segments", "/v1/segments"),
    ("/v1/async-actions", "/v1/async-actions"),
]


@pytest.fixture
def customer(api):
    api.post("/sandbox/v1/customers", json.dumps({"source_id": "c1"}), content_type="application/json")


@pytest.mark.parametrize(("path", "pattern"), GET_ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"HTTP_X_APP_ID": "sandbox-app-id", "HTTP_X_APP_TOKEN": "wrong"}])
def test_bad_auth_is_401(contract, path, pattern, headers):
    response = Client(**headers).get("/sandbox" + path)
    contract.check("GET", pattern, response)
    assert response.status_code == 401 and response.json()["key"] == "unauthorized"
    assert response.json()["request_id"].startswith("v-") and response["X-Request-Id"]


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": 100},
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"order": "name"},
        {"created_at[before]": "yesterday"},
        {"updated_at[after]": "2024-13-01"},
        {"starting_after": "2024-01-01T25:00:00Z"},
    ],
)
def test_bad_list_params_are_400(api, contract, params):
    response = api.get("/sandbox/v1/customers", params)
    contract.check("GET", "/v1/customers", response)
    assert response.status_code == 400 and response.json()["key"] == "invalid_query_params"
    assert response.json()["details"]


@pytest.mark.parametrize(
    ("path", "pattern", "params"),
    [
        ("/v1/customers/c1/activity", "/v1/customers/{customerId}/activity", {"order": "type"}),
        ("/v1/customers/c1/activity", "/v1/customers/{customerId}/activity", {"type": "customer.nope"}),
        ("/v1/customers/c1/activity", "/v1/customers/{customerId}/activity", {"starting_after_id": "evcus_x"}),
        ("/v1/customers/c1/activity", "/v1/customers/{customerId}/activity", {"start_date": "soon"}),
        ("/v1/customers/c1/activity", "/v1/customers/{customerId}/activity", {"campaign_type": "X"}),
        ("/v1/customers/c1/activities", "/v1/customers/{customerId}/activities", {"order": "-name"}),
        ("/v1/customers/c1/redeemables", "/v1/customers/{customerId}/redeemables", {"order": "created_at"}),
        ("/v1/customers/c1/redeemables", "/v1/customers/{customerId}/redeemables", {"filters[color][$is]": "x"}),
        (
            "/v1/customers/c1/redeemables",
            "/v1/customers/{customerId}/redeemables",
            {"filters[holder_role][conditions][$gt]": "x"},
        ),
        ("/v1/customers/c1/redeemables", "/v1/customers/{customerId}/redeemables", {"filters[junction]": "xor"}),
        ("/v1/segments", "/v1/segments", {"limit": 101}),
        ("/v1/async-actions", "/v1/async-actions", {"end_date": "later"}),
    ],
)
def test_bad_params_elsewhere_are_400(api, contract, customer, path, pattern, params):
    response = api.get("/sandbox" + path, params)
    contract.check("GET", pattern, response)
    assert response.status_code == 400 and response.json()["key"] == "invalid_query_params"


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("/v1/customers/nobody", "/v1/customers/{customerId}"),
        ("/v1/customers/nobody/activity", "/v1/customers/{customerId}/activity"),
        ("/v1/customers/nobody/redeemables", "/v1/customers/{customerId}/redeemables"),
    ],
)
def test_unknown_ids_are_404(api, contract, path, pattern):
    response = api.get("/sandbox" + path)
    contract.check("GET", pattern, response)
    assert response.status_code == 404
    assert response.json()["resource_id"] == "nobody" and response.json()["resource_type"] == "customer"


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"text"',
        '{"name": 5}',
        '{"email": ["a@b"]}',
        '{"metadata": "x"}',
        '{"address": "Main St"}',
        '{"address": {"city": 7}}',
        '{"birthdate": "12/31/1990"}',
        '{"birthdate": "1990-02-30"}',
        '{"source_id": 12}',
        '{"id": ""}',
    ],
)
def test_bad_bodies_are_400(api, contract, customer, body):
    response = api.post("/sandbox/v1/customers", body, content_type="application/json")
    contract.check("POST", "/v1/customers", response)
    assert response.status_code == 400 and response.json()["key"] in ("invalid_payload", "invalid_customer")
    if body.startswith("{") and '"id"' not in body and '"source_id"' not in body:
        response = api.put("/sandbox/v1/customers/c1", body, content_type="application/json")
        contract.check("PUT", "/v1/customers/{customerId}", response)
        assert response.status_code == 400


def test_unknown_id_in_create_is_404_and_emails_are_not_validated(api, contract):
    response = api.post("/sandbox/v1/customers", '{"id": "cust_missing"}', content_type="application/json")
    contract.check("POST", "/v1/customers", response)
    assert response.status_code == 404
    response = api.post("/sandbox/v1/customers", '{"email": "not an email"}', content_type="application/json")
    assert response.status_code == 200 and response.json()["email"] == "not an email"


@pytest.mark.parametrize(
    ("method", "path", "pattern"),
    [
        ("patch", "/v1/customers", "/v1/customers"),
        ("delete", "/v1/customers", "/v1/customers"),
        ("post", "/v1/customers/c1", "/v1/customers/{customerId}"),
        ("get", "/v1/customers/c1/permanent-deletion", "/v1/customers/{customerId}/permanent-deletion"),
        ("post", "/v1/segments", "/v1/segments"),
        ("put", "/v1/async-actions", "/v1/async-actions"),
    ],
)
def test_wrong_methods_are_405(api, contract, customer, method, path, pattern):
    response = getattr(api, method)("/sandbox" + path)
    assert response.status_code == 405 and response.json()["key"] == "method_not_allowed"
    assert response["Allow"]
    contract.error_validator.validate(response.json())


def test_bulk_paths_as_customer_ids_and_unknown_endpoints(api):
    assert api.get("/sandbox/v1/customers/importCSV").status_code == 404
    api.post("/sandbox/v1/customers", '{"source_id": "bulk/async"}', content_type="application/json")
    assert api.get("/sandbox/v1/customers/bulk/async").json()["source_id"] == "bulk/async"
    response = api.get("/sandbox/v2/whatever")
    assert response.status_code == 404 and response.json()["code"] == 404


def test_rate_limit_headers_and_request_ids(api):
    response = api.get("/sandbox/v1/customers")
    assert response["X-Rate-Limit-Limit"] and response["X-Rate-Limit-Remaining"]
    assert response["X-Request-Id"].startswith("v-") and len(response["X-Request-Id"]) == 20


def test_latency_setting_delays_responses(api, settings):
    settings.SANDBOX_LATENCY_MS = 150
    started = time.monotonic()
    api.get("/sandbox/v1/segments")
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize(
    "params",
    [
        {"filters[created_at][conditions][$is]": "x"},
        {"filters[created_at][conditions][$before]": "x"},
        {"filters[holder_role][conditions][$before]": "2024-01-01"},
        {"filters": "x"},
    ],
)
def test_bad_redeemable_date_filters_are_400(api, customer, params):
    response = api.get("/sandbox/v1/customers/c1/redeemables", params)
    assert response.status_code == 400 and response.json()["key"] == "invalid_query_params"


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-01-01T00:00:00+99:00"]
)
def test_dates_out_of_range_are_400(api, value):
    assert api.get("/sandbox/v1/customers", {"created_at[after]": value}).status_code == 400


def test_deeply_nested_json_is_400_and_an_empty_body_creates_an_empty_customer(api):
    nested = "[" * 100_000 + "]" * 100_000
    assert api.post("/sandbox/v1/customers", nested, content_type="application/json").status_code == 400
    response = api.post("/sandbox/v1/customers", "", content_type="application/json")
    assert response.status_code == 200 and response.json()["id"].startswith("cust_")
