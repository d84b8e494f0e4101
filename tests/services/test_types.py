"""Typed objects built from the API's JSON, including the contract's own examples."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from customers_app.types import (
    Activity,
    ActivityPage,
    AsyncAction,
    Customer,
    CustomerPage,
    ListedCustomerPage,
    PermanentDeletion,
    RedeemablePage,
    format_api_datetime,
    parse_datetime,
)

CONTRACT = Path(__file__).resolve().parents[2] / "sandbox" / "contract" / "customers-openapi.json"


def example(api_path: str, method: str = "get", status: str = "200") -> dict:
    spec = json.loads(CONTRACT.read_text())
    content = spec["paths"][api_path][method]["responses"][status]["content"]["application/json"]
    return next(iter(content["examples"].values()))["value"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-08-30T06:32:07.380Z", datetime(2022, 8, 30, 6, 32, 7, 380000, tzinfo=UTC)),
        ("2022-08-30T06:32:07Z", datetime(2022, 8, 30, 6, 32, 7, tzinfo=UTC)),
        ("2024-03-22T17:48:18.57+00:00", datetime(2024, 3, 22, 17, 48, 18, 570000, tzinfo=UTC)),
        ("2024-03-22T17:48:25.910974+00:00", datetime(2024, 3, 22, 17, 48, 25, 910974, tzinfo=UTC)),
        ("2024-03-22T17:48:25", datetime(2024, 3, 22, 17, 48, 25, tzinfo=UTC)),
        ("not a date", None),
        (None, None),
    ],
)
def test_timestamps_parse_to_aware_datetimes(text, expected):
    assert parse_datetime(text) == expected


def test_api_datetime_format_is_utc_with_milliseconds():
    warsaw = timezone(timedelta(hours=2))
    assert format_api_datetime(datetime(2024, 5, 6, 9, 8, 9, 123999, tzinfo=warsaw)) == "2024-05-06T07:08:09.123Z"
    assert format_api_datetime(datetime(2024, 5, 6, 7, 8, 9)) == "2024-05-06T07:08:09.000Z"
    assert format_api_datetime(date(2024, 5, 6)) == "2024-05-06"


def test_customer_from_the_contract_example():
    data = example("/v1/customers/{customerId}")

    customer = Customer.from_api(data)

    assert customer.id == data["id"]
    assert customer.raw is data
    assert customer.created_at.tzinfo is not None
    assert customer.summary is not None
    assert customer.summary.redemptions.total_redeemed == data["summary"]["redemptions"]["total_redeemed"]
    assert customer.loyalty.points == data["loyalty"]["points"]
    assert customer.referrals.total == data["referrals"]["total"]


def test_customer_reads_the_deprecated_birthday_and_empty_sections():
    customer = Customer.from_api(
        {
            "id": "cust_1",
            "birthday": "1990-04-01",
            "summary": None,
            "loyalty": None,
            "referrals": None,
            "address": None,
        }
    )

    assert customer.birthdate == date(1990, 4, 1)
    assert customer.summary is None
    assert customer.address is None
    assert customer.metadata == {}


def test_activity_titles_read_like_sentences():
    assert Activity.from_api({"type": "customer.voucher.redeemed"}).title == "Voucher redeemed"
    assert Activity.from_api({"type": "customer.rewarded.loyalty_points"}).title == "Rewarded loyalty points"


def test_activity_page_uses_more_starting_after_as_the_cursor():
    page = ActivityPage.from_api(
        {"data_ref": "data", "data": [{"id": "evcus_1"}], "has_more": True, "more_starting_after": "evcus_9"}
    )

    assert page.next_cursor == "evcus_9"


def test_redeemables_from_the_contract_example():
    page = RedeemablePage.from_api(example("/v1/customers/{customerId}/redeemables"))

    first = page.items[0]
    assert first.id == "rh_0e7b8db4700106a852"
    assert first.code == "3xRUnMVG"
    assert first.campaign_name == "Gaz6Q29w1d"
    assert first.status == "ACTIVE"
    assert first.holder_role == "OWNER"


def test_async_action_and_permanent_deletion_from_the_contract_examples():
    action = AsyncAction.from_api(example("/v1/async-actions/{asyncActionId}"))
    deletion = PermanentDeletion.from_api(example("/v1/customers/{customerId}/permanent-deletion", method="post"))

    assert action.id.startswith("aa_")
    assert action.is_finished == (action.status in {"DONE", "FAILED"})
    assert deletion.id.startswith("del_")
    assert deletion.related_object_id.startswith("cust_")
    assert "customer" in deletion.counts


def test_the_lean_list_rows_read_the_same_columns_as_full_customers_from_the_contracts_example():
    body = example("/v1/customers")
    full, lean = CustomerPage.from_api(body), ListedCustomerPage.from_json(json.dumps(body).encode())
    assert (lean.total, lean.has_more) == (full.total, full.has_more) and len(lean.customers) == len(full.customers) > 0
    for row, customer in zip(lean.customers, full.customers, strict=True):
        assert (row.id, row.source_id, row.name, row.email, row.phone) == (
            customer.id, customer.source_id, customer.name, customer.email, customer.phone,
        )  # fmt: skip
        assert (row.address.city if row.address else None) == (customer.address.city if customer.address else None)
        assert (row.created_at, row.updated_at) == (customer.created_at, customer.updated_at)
        assert row.created_cursor == customer.created_cursor and row.display_name == customer.display_name
    assert [c.id for c in lean.reversed().customers] == [c.id for c in full.customers][::-1]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>proxy login</html>",
        b'{"customers": [{"id": 7}]}',  # an id that is not text
        b'{"customers": [{"id": "c", "address": "Main St"}]}',
        b'{"customers": [], "total": "12"}',
    ],
)
def test_a_list_answer_not_shaped_as_the_apis_is_a_value_error(body):
    with pytest.raises(ValueError):
        ListedCustomerPage.from_json(body)
