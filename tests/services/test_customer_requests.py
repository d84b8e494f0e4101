"""What the customer services send on the wire and how they read the answers (local upstream)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.core.cache import cache

from customers_app.services.async_actions import async_action_list
from customers_app.services.customers import (
    customer_activities_list,
    customer_find,
    customer_list,
    customer_redeemables_list,
    customers_import_csv,
)
from customers_app.services.segments import segment_list

EMPTY_CUSTOMERS = {"object": "list", "data_ref": "customers", "customers": [], "total": 0, "has_more": False}


def customer(id_: str, email: str = "jane@example.com", created_at: str = "2024-01-02T03:04:05.678Z") -> dict:
    return {"id": id_, "email": email, "created_at": created_at, "object": "customer"}


@pytest.fixture
def upstream(settings, httpserver):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_IN_PROCESS = False
    settings.VOUCHERIFY_MAX_RETRIES = 0
    cache.clear()
    return httpserver


def test_customer_list_sends_bracketed_date_filters_and_omits_unset_ones(upstream):
    upstream.expect_request("/v1/customers").respond_with_json(EMPTY_CUSTOMERS)

    customer_list(
        city="Kraków",
        created_at_before=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        updated_at_after=date(2024, 1, 31),
        created_at_after="2023-01-01T00:00:00Z",
        order="-created_at",
        limit=50,
    )

    request, _ = upstream.log[0]
    assert request.args.to_dict() == {
        "city": "Kraków",
        "created_at[before]": "2024-05-06T07:08:09.123Z",
        "created_at[after]": "2023-01-01T00:00:00Z",
        "updated_at[after]": "2024-01-31",
        "order": "-created_at",
        "limit": "50",
    }


def test_customer_page_gives_the_next_starting_after_cursor(upstream):
    upstream.expect_request("/v1/customers").respond_with_json(
        {
            "object": "list",
            "data_ref": "customers",
            "customers": [
                customer("cust_1", created_at="2024-02-01T00:00:00.000Z"),
                customer("cust_2", created_at="2024-01-02T03:04:05.678Z"),
            ],
            "total": 5,
            "has_more": True,
        }
    )

    page = customer_list(limit=2)

    assert [c.id for c in page.customers] == ["cust_1", "cust_2"]
    assert page.total == 5
    assert page.has_more
    assert page.next_starting_after == "2024-01-02T03:04:05.678Z"


def test_redeemable_filters_are_sent_as_a_deep_object(upstream):
    upstream.expect_request("/v1/customers/cust_1/redeemables").respond_with_json(
        {"object": "list", "data_ref": "data", "data": [], "total": 0, "has_more": False}
    )

    customer_redeemables_list(
        customer_id="cust_1",
        limit=5,
        filters={"holder_role": {"conditions": {"$in": "OWNER"}}, "junction": "and"},
    )

    request, _ = upstream.log[0]
    assert request.args.to_dict() == {
        "limit": "5",
        "filters[holder_role][conditions][$in]": "OWNER",
        "filters[junction]": "and",
    }


def test_csv_import_is_a_multipart_upload_of_field_file(upstream):
    upstream.expect_request("/v1/customers/importCSV", method="POST").respond_with_json(
        {"async_action_id": "aa_0123456789abcdef01"}, status=202
    )

    action_id = customers_import_csv(file_name="people.csv", content=b"Source_id,Email\nx,x@example.com\n")

    request, _ = upstream.log[0]
    assert action_id == "aa_0123456789abcdef01"
    assert request.files["file"].filename == "people.csv"
    assert request.files["file"].read() == b"Source_id,Email\nx,x@example.com\n"


def test_find_by_email_returns_every_customer_with_that_email(upstream):
    upstream.expect_request(re.compile(r"^/v1/customers/.+")).respond_with_json(
        {"code": 404, "key": "not_found", "message": "Resource not found"}, status=404
    )
    upstream.expect_request("/v1/customers").respond_with_json(
        EMPTY_CUSTOMERS | {"customers": [customer("cust_1"), customer("cust_2")], "total": 2}
    )

    found = customer_find(query="  jane@example.com ")

    assert [c.id for c in found] == ["cust_1", "cust_2"]
    assert upstream.log[1][0].args["email"] == "jane@example.com"


def test_find_by_source_id_that_is_an_email_lists_that_customer_first_once(upstream):
    upstream.expect_request(re.compile(r"^/v1/customers/.+")).respond_with_json(customer("cust_2"))
    upstream.expect_request("/v1/customers").respond_with_json(
        EMPTY_CUSTOMERS | {"customers": [customer("cust_1"), customer("cust_2")], "total": 2}
    )

    found = customer_find(query="jane@example.com")

    assert [c.id for c in found] == ["cust_2", "cust_1"]


def test_find_returns_nothing_for_an_unknown_id(upstream):
    upstream.expect_request(re.compile(r"^/v1/customers/.+")).respond_with_json(
        {"code": 404, "key": "not_found", "message": "Resource not found"}, status=404
    )

    assert customer_find(query="cust_doesnotexist") == []
    assert customer_find(query="   ") == []
    assert len(upstream.log) == 1


def test_segment_list_accepts_either_array_name_and_is_cached(upstream):
    upstream.expect_oneshot_request("/v1/segments").respond_with_json(
        {"object": "list", "data_ref": "data", "segments": [{"id": "seg_1", "name": "VIP", "type": "static"}]}
    )

    first = segment_list()
    second = segment_list()

    assert [s.name for s in first] == ["VIP"]
    assert second == first
    assert len(upstream.log) == 1


def test_deprecated_activities_list_reports_more_when_the_page_is_full(upstream):
    upstream.expect_request("/v1/customers/cust_1/activities").respond_with_json(
        {
            "object": "list",
            "data_ref": "data",
            "data": [
                {"id": "evcus_2", "type": "customer.updated", "created_at": "2024-01-02T00:00:00Z"},
                {"id": "evcus_1", "type": "customer.created", "created_at": "2024-01-01T00:00:00Z"},
            ],
            "total": 7,
        }
    )

    page = customer_activities_list(customer_id="cust_1", limit=2, starting_after=date(2024, 2, 1))

    assert [a.title for a in page.items] == ["Updated", "Created"]
    assert page.has_more
    assert page.next_cursor == "evcus_1"
    assert page.total == 7
    assert upstream.log[0][0].args["starting_after"] == "2024-02-01"


def test_async_action_list_reads_the_async_actions_array(upstream):
    upstream.expect_request("/v1/async-actions").respond_with_json(
        {
            "object": "list",
            "data_ref": "async_actions",
            "async_actions": [
                {
                    "id": "aa_1",
                    "type": "CUSTOMERS.IMPORT_CSV",
                    "status": "DONE",
                    "created_at": "2024-01-01T00:00:00Z",
                }
            ],
            "has_more": True,
        }
    )

    page = async_action_list(limit=1)

    assert [a.id for a in page.items] == ["aa_1"]
    assert page.items[0].is_finished
    assert page.next_end_date == "2024-01-01T00:00:00.000Z"
