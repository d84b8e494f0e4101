"""Voucherify's official Python SDK drives every sandbox operation over real HTTP (gunicorn)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import voucherify
from voucherify.exceptions import ApiException


@pytest.fixture(scope="module")
def sdk(sandbox_server):
    config = voucherify.Configuration(
        host=sandbox_server.base_url,
        api_key={"X-App-Id": sandbox_server.app_id, "X-App-Token": sandbox_server.app_token},
    )
    client = voucherify.ApiClient(config)
    return (
        voucherify.CustomersApi(client),
        voucherify.AsyncActionsApi(client),
        voucherify.SegmentsApi(client),
    )


@pytest.fixture
def customers(sdk):
    return sdk[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait(actions, action_id: str):
    deadline = time.monotonic() + 20
    while True:
        action = actions.get_async_action(action_id)
        if action.status in ("DONE", "FAILED") or time.monotonic() > deadline:
            return action
        time.sleep(0.1)


def test_create_get_update_delete(customers):
    source_id = unique("sdk/ü ?&#+@ x")
    body = voucherify.CustomersCreateRequestBody(
        source_id=source_id,
        name="Sdk Person",
        email="sdk@example.com",
        birthdate="1991-02-03",
        address=voucherify.CustomersCreateRequestBodyAddress(city="Gdańsk", country="Poland"),
        metadata={"plan": "pro", "seats": 3, "nested": {"ok": True}},
    )
    created = customers.create_customer(body)
    assert created.id.startswith("cust_") and created.object == "customer"
    assert created.summary.redemptions.total_redeemed == 0 and created.loyalty.points == 0
    fetched = customers.get_customer(source_id)
    assert fetched.id == created.id and fetched.address.city == "Gdańsk"
    assert fetched.birthdate.isoformat() == "1991-02-03"
    updated = customers.update_customer(
        source_id, voucherify.CustomersUpdateRequestBody(phone="+48 500 600 700", metadata={"plan": "team"})
    )
    assert updated.phone == "+48 500 600 700" and updated.name == "Sdk Person" and updated.metadata == {"plan": "team"}
    customers.delete_customer(created.id)
    with pytest.raises(ApiException) as error:
        customers.get_customer(created.id)
    assert error.value.status == 404


def test_list_with_filters_dates_and_orders(customers):
    page = customers.list_customers(limit=5, page=2)
    assert page.object == "list" and page.data_ref == "customers" and len(page.customers) == 5
    assert page.total >= 300 and page.has_more is True
    some = page.customers[0]
    by_email = customers.list_customers(email=some.email)
    assert some.id in [c.id for c in by_email.customers]
    if some.address and some.address.city:
        by_city = customers.list_customers(city=some.address.city, limit=100)
        assert all(c.address.city == some.address.city for c in by_city.customers)
    naive = datetime(2024, 1, 2, 3, 4, 5)
    aware = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    before = customers.list_customers(created_at_before=naive, limit=100)
    after = customers.list_customers(created_at_after=aware, limit=100)
    assert before.total + after.total >= 300
    assert all(c.created_at < aware for c in before.customers)
    updated = customers.list_customers(updated_at_after=naive, updated_at_before=datetime(2100, 1, 1), limit=3)
    assert updated.total >= after.total
    oldest = customers.list_customers(order="created_at", limit=3)
    assert [c.created_at for c in oldest.customers] == sorted(c.created_at for c in oldest.customers)
    cursor = customers.list_customers(starting_after=page.customers[-1].created_at, limit=5)
    assert all(c.created_at < page.customers[-1].created_at for c in cursor.customers)
    assert customers.list_customers(name="a", order="-source_id", limit=2).customers


def test_activity_redeemables_and_segments(sdk):
    customers, _, segments = sdk
    holder = None
    # Oldest first: seeded customers, not the ones other tests keep creating at the top of the list.
    for candidate in customers.list_customers(limit=30, order="created_at").customers:
        redeemables = customers.list_customer_redeemables(candidate.id, limit=100)
        if redeemables.total:
            holder = candidate
            break
    assert holder is not None
    assert redeemables.data[0].redeemable.voucher.code and redeemables.data[0].id.startswith("rh_")
    owner = voucherify.ParameterFiltersListCustomerRedeemables(
        holder_role=voucherify.ParameterFiltersListCustomerRedeemablesHolderRole(
            conditions=voucherify.ParameterFiltersListCustomerRedeemablesHolderRoleConditions(var_in=["OWNER"])
        )
    )
    owned = customers.list_customer_redeemables(holder.id, filters=owner, order="-id", limit=100)
    assert all(item.holder_role == "OWNER" for item in owned.data)
    activity = customers.list_customer_activity(holder.id, limit=2, order="created_at")
    assert activity.data and activity.data[0].type == "customer.created"
    if activity.has_more:
        more = customers.list_customer_activity(holder.id, limit=2, starting_after_id=activity.more_starting_after)
        assert activity.data[-1].id not in [e.id for e in more.data]
    assert customers.list_customer_activity(holder.id, type="customer.created", category="ACTION").data
    member_of = customers.list_customer_segments(holder.id)
    assert member_of.object == "list" and member_of.total == len(member_of.data)
    assert customers.list_customer_segments("no-such-customer").total == 0
    for simple in member_of.data:
        segment = segments.get_segment(simple.id)
        assert segment.name == simple.name and segment.object == "segment"


def test_segment_list_over_http(sandbox_server, sdk):
    body = sandbox_server.api("GET", "/v1/segments", params={"limit": 100}).json()
    assert body["total"] == 12 and body["data"] == body["segments"]
    segment = sdk[2].get_segment(body["data"][0]["id"])
    assert segment.type in ("static", "auto-update")
    with pytest.raises(ApiException) as error:
        sdk[2].get_segment("seg_missing")
    assert error.value.status == 404


def test_permanent_deletion(customers):
    created = customers.create_customer(voucherify.CustomersCreateRequestBody(source_id=unique("perm")))
    record = customers.customer_permanently_deletion(created.source_id)
    assert record.id.startswith("del_") and record.related_object_id == created.id
    assert record.status == "DONE" and record.data_json.customer == 1 and record.data_json.events >= 1


def test_import_csv_bulk_and_metadata_updates(sdk):
    customers, actions, _ = sdk
    a, b = unique("imp"), unique("imp")
    csv_text = f"Source_id,Name,Email,Address_City,Tier\n{a},Imp A,a@example.com,Oslo,gold\n{b},Imp B,,,\n,,,\n"
    accepted = customers.import_customers_using_csv(file=csv_text.encode())
    action = wait(actions, accepted.async_action_id)
    assert action.status == "DONE" and action.type == "CUSTOMERS.IMPORT_CSV"
    assert action.result["done_count"] == 2 and action.result["failed_count"] == 0
    assert customers.get_customer(a).metadata == {"Tier": "gold"}

    bulk = customers.update_customers_in_bulk(
        [
            voucherify.CustomersUpdateInBulkRequestBody(source_id=a, name="Bulk A"),
            voucherify.CustomersUpdateInBulkRequestBody(source_id=unique("bulk"), email="new@example.com"),
        ]
    )
    action = wait(actions, bulk.async_action_id)
    assert action.status == "DONE" and action.result["done_count"] == 2 and action.result["errors"] == []
    assert customers.get_customer(a).name == "Bulk A"

    meta = customers.update_customers_metadata_in_bulk(
        voucherify.CustomersMetadataUpdateInBulkRequestBody(source_ids=[a, b], metadata={"vip": True})
    )
    action = wait(actions, meta.async_action_id)
    assert action.status == "DONE" and action.operation_status == "SUCCESS" and action.progress == 100
    assert customers.get_customer(b).metadata == {"vip": True}
    assert customers.get_customer(a).metadata == {"Tier": "gold", "vip": True}

    listed = actions.list_async_actions(limit=3)
    assert listed.data_ref == "async_actions" and meta.async_action_id in [x.id for x in listed.async_actions]
    older = actions.list_async_actions(end_date=action.created_at, limit=100)
    assert meta.async_action_id not in [x.id for x in older.async_actions]


def test_sdk_errors(sandbox_server, customers):
    with pytest.raises(ApiException) as error:
        customers.update_customer("nobody-" + uuid.uuid4().hex, voucherify.CustomersUpdateRequestBody(name="x"))
    assert error.value.status == 404
    bad = voucherify.CustomersApi(
        voucherify.ApiClient(
            voucherify.Configuration(host=sandbox_server.base_url, api_key={"X-App-Id": "x", "X-App-Token": "y"})
        )
    )
    with pytest.raises(ApiException) as error:
        bad.list_customers()
    assert error.value.status == 401
