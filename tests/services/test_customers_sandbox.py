"""Every service function round-tripped against the sandbox over real HTTP (gunicorn, seeded data)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache

from customers_app.services.async_actions import async_action_get, async_action_list
from customers_app.services.customers import (
    customer_activities_list,
    customer_activity_list,
    customer_create,
    customer_delete,
    customer_find,
    customer_get,
    customer_list,
    customer_permanently_delete,
    customer_redeemables_list,
    customer_segments_list,
    customer_update,
    customers_bulk_update,
    customers_import_csv,
    customers_metadata_update,
)
from customers_app.services.segments import segment_get, segment_list
from customers_app.services.voucherify import AuthError, NotFound, RequestError, rate_limit_status
from customers_app.types import AsyncAction

pytestmark = pytest.mark.usefixtures("use_sandbox_server")


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_for(async_action_id: str, seconds: float = 20) -> AsyncAction:
    deadline = time.monotonic() + seconds
    while True:
        action = async_action_get(async_action_id=async_action_id)
        if action.is_finished or time.monotonic() > deadline:
            return action
        time.sleep(0.1)


def test_customer_round_trip_create_get_update_delete():
    source_id = unique("odd ?&#+@ id")
    created = customer_create(
        data={
            "source_id": source_id,
            "name": "Jane Doe",
            "email": f"{source_id[-12:]}@example.com",
            "birthdate": "1990-04-01",
            "address": {"city": "Kraków", "country": "PL"},
            "metadata": {"tier": "gold"},
        }
    )

    assert created.id.startswith("cust_")
    assert customer_get(customer_id=created.id) == created
    assert customer_get(customer_id=source_id).id == created.id

    updated = customer_update(customer_id=source_id, changes={"name": "Jane Smith"})
    assert updated.name == "Jane Smith"
    assert updated.email == created.email
    assert updated.birthdate == created.birthdate
    assert updated.address.city == "Kraków"
    assert updated.updated_at >= created.updated_at

    customer_delete(customer_id=created.id)
    with pytest.raises(NotFound) as caught:
        customer_get(customer_id=created.id)
    assert caught.value.request_id


def test_source_ids_with_slashes_reach_the_customer():
    source_id = unique("shop/eu/customer")
    created = customer_create(data={"source_id": source_id, "name": "Slash"})

    assert customer_get(customer_id=source_id).id == created.id


def test_create_upserts_an_existing_source_id():
    source_id = unique()
    first = customer_create(data={"source_id": source_id, "name": "First"})

    second = customer_create(data={"source_id": source_id, "name": "Second"})

    assert second.id == first.id
    assert customer_get(customer_id=first.id).name == "Second"


def test_invalid_data_is_a_request_error():
    with pytest.raises(RequestError) as caught:
        customer_create(data={"source_id": unique(), "name": 123})

    assert caught.value.status == 400
    assert caught.value.details


def test_wrong_credentials_are_an_auth_error(settings):
    settings.VOUCHERIFY_APP_TOKEN = "wrong-token"

    with pytest.raises(AuthError):
        customer_list(limit=1)


def test_permanent_deletion_erases_the_customer():
    created = customer_create(data={"source_id": unique(), "name": "Gone"})

    deletion = customer_permanently_delete(customer_id=created.id)

    assert deletion.id.startswith("del_")
    assert deletion.related_object_id == created.id
    assert deletion.status == "DONE"
    with pytest.raises(NotFound):
        customer_get(customer_id=created.id)


def test_list_filters_by_email_city_and_name():
    email = f"{unique()}@example.com"
    city = unique("City")
    first = customer_create(data={"source_id": unique(), "email": email, "name": unique("Name")})
    second = customer_create(data={"source_id": unique(), "email": email, "address": {"city": city}})

    assert {c.id for c in customer_list(email=email).customers} == {first.id, second.id}
    assert [c.id for c in customer_list(city=city).customers] == [second.id]
    assert [c.id for c in customer_list(name=first.name).customers] == [first.id]


def test_list_filters_by_created_and_updated_dates():
    email = f"{unique()}@example.com"
    created = customer_create(data={"source_id": unique(), "email": email})
    second = timedelta(seconds=1)

    assert customer_list(email=email, created_at_after=created.created_at - second).total == 1
    assert customer_list(email=email, created_at_before=created.created_at - second).total == 0
    assert customer_list(email=email, updated_at_before=created.updated_at + second).total == 1
    assert customer_list(email=email, updated_at_after=created.updated_at + second).total == 0


def test_pages_by_number_do_not_overlap_and_match_the_cursor():
    first = customer_list(limit=20, page=1)
    second = customer_list(limit=20, page=2)
    by_cursor = customer_list(limit=20, starting_after=first.next_starting_after)

    assert first.has_more
    assert not {c.id for c in first.customers} & {c.id for c in second.customers}
    assert [c.id for c in by_cursor.customers] == [c.id for c in second.customers]


def test_walking_with_starting_after_visits_every_customer_once():
    total = customer_list(limit=1).total
    seen: list[str] = []
    cursor = None
    while True:
        page = customer_list(limit=100, starting_after=cursor)
        seen.extend(c.id for c in page.customers)
        if not page.has_more or not page.customers:
            break
        cursor = page.next_starting_after

    assert total >= 300
    assert len(seen) == len(set(seen)) == total


def test_ascending_order_with_a_cursor_returns_later_customers():
    oldest = customer_list(limit=5, order="created_at")
    after = customer_list(limit=5, order="created_at", starting_after=oldest.next_starting_after)

    assert oldest.customers[-1].created_at < after.customers[0].created_at


def test_activity_records_creation_and_updates_and_pages_by_id():
    created = customer_create(data={"source_id": unique(), "name": "Active"})
    customer_update(customer_id=created.id, changes={"name": "Still active"})

    everything = customer_activity_list(customer_id=created.id, limit=100)
    first = customer_activity_list(customer_id=created.id, limit=1, order="created_at")
    rest = customer_activity_list(
        customer_id=created.id, limit=100, order="created_at", starting_after_id=first.next_cursor
    )
    updates = customer_activity_list(customer_id=created.id, type="customer.updated")

    types = [a.type for a in everything.items]
    assert "customer.created" in types
    assert "customer.updated" in types
    assert first.has_more
    assert first.items[0].type == "customer.created"
    assert first.items[0].id not in {a.id for a in rest.items}
    assert len(first.items) + len(rest.items) == len(everything.items)
    assert [a.title for a in updates.items] == ["Updated"]


def test_deprecated_activities_list_returns_the_same_events():
    created = customer_create(data={"source_id": unique(), "name": "Old API"})

    page = customer_activities_list(customer_id=created.id, limit=10)

    assert "customer.created" in [a.type for a in page.items]
    assert page.total == len(page.items)
    assert not page.has_more


def test_redeemables_list_pages_and_filters_by_holder_role():
    holder = next(
        c
        for c in customer_list(limit=100, order="created_at").customers
        if customer_redeemables_list(customer_id=c.id, limit=1).total > 1
    )

    first = customer_redeemables_list(customer_id=holder.id, limit=1)
    rest = customer_redeemables_list(customer_id=holder.id, limit=100, starting_after_id=first.next_cursor)
    owned = customer_redeemables_list(
        customer_id=holder.id, limit=100, filters={"holder_role": {"conditions": {"$in": ["OWNER"]}}}
    )

    assert first.has_more
    assert first.items[0].code
    assert len(first.items) + len(rest.items) == first.total
    assert all(r.holder_role == "OWNER" for r in owned.items)


def test_segments_of_a_customer_and_of_the_project():
    cache.clear()
    segments = segment_list()
    member = next(
        (c, found)
        for c in customer_list(limit=100, order="created_at").customers
        if (found := customer_segments_list(customer_id=c.id))
    )

    assert segments
    assert segment_get(segment_id=segments[0].id).name == segments[0].name
    assert {s.id for s in member[1]} <= {s.id for s in segments}
    with pytest.raises(NotFound):
        segment_get(segment_id="seg_doesnotexist")


def test_bulk_update_runs_as_an_async_action():
    source_id = unique()

    action_id = customers_bulk_update(updates=[{"source_id": source_id, "name": "Bulk"}])
    action = wait_for(action_id)

    assert action.type == "CUSTOMERS.BULK_UPDATE"
    assert action.status == "DONE"
    assert action.result["done_count"] == 1
    assert customer_get(customer_id=source_id).name == "Bulk"
    assert action_id in {a.id for a in async_action_list(limit=100).items}


def test_metadata_update_runs_as_an_async_action():
    created = customer_create(data={"source_id": unique(), "metadata": {"keep": "yes"}})

    action = wait_for(customers_metadata_update(source_ids=[created.source_id], metadata={"tier": "silver"}))

    assert action.type == "CUSTOMERS.METADATA_UPDATE"
    assert action.status == "DONE"
    assert customer_get(customer_id=created.id).metadata == {"keep": "yes", "tier": "silver"}


def test_csv_import_creates_customers_and_reports_failures():
    first, second = unique(), unique()
    content = (
        "Source_id,Name,Email,Address_City,Birthdate,Favourite_colour\n"
        f"{first},Ann,{first}@example.com,Gdańsk,1991-02-03,green\n"
        f"{second},Bob,{second}@example.com,Łódź,not-a-date,blue\n"
    ).encode()

    action = wait_for(customers_import_csv(file_name="people.csv", content=content))

    assert action.type == "CUSTOMERS.IMPORT_CSV"
    assert action.status == "DONE"
    assert action.result["done_count"] == 1
    assert action.result["failed_count"] == 1
    imported = customer_get(customer_id=first)
    assert imported.address.city == "Gdańsk"
    assert imported.metadata["Favourite_colour"] == "green"


def test_find_by_id_source_id_and_email():
    email = f"{unique()}@example.com"
    created = customer_create(data={"source_id": unique(), "email": email})
    twin = customer_create(data={"source_id": unique(), "email": email})

    assert [c.id for c in customer_find(query=created.id)] == [created.id]
    assert [c.id for c in customer_find(query=created.source_id)] == [created.id]
    assert {c.id for c in customer_find(query=email)} == {created.id, twin.id}
    assert customer_find(query=f"nobody-{email}") == []


def test_rate_limit_headers_from_the_sandbox_are_recorded():
    customer_list(limit=1)

    assert rate_limit_status().limit is not None
    assert rate_limit_status().remaining is not None
