"""Customers and addresses built the quick way are the very objects their dataclass constructor makes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from customers_app.types import Address, Customer, CustomerPage, parse_datetime

API_CUSTOMER = {
    "id": "cust_1",
    "source_id": "CRM-1",
    "name": "Ana Müller",
    "email": "ana@example.com",
    "phone": "+420 600 111 222",
    "birthday": "1990-04-01",
    "description": "VIP",
    "address": {"line_1": "Main 1", "city": "Brno", "postal_code": "60200", "country": "CZ", "extra": "x"},
    "metadata": {"tier": "gold"},
    "summary": {"orders": {"total_count": 3}},
    "created_at": "2022-08-30T06:32:07.380Z",
    "updated_at": "2022-08-31T10:00:00+02:00",
}


def test_a_customer_from_the_api_equals_one_made_by_its_constructor():
    customer = Customer.from_api(API_CUSTOMER)
    expected = Customer(
        id="cust_1",
        source_id="CRM-1",
        name="Ana Müller",
        email="ana@example.com",
        phone="+420 600 111 222",
        birthdate=date(1990, 4, 1),
        description="VIP",
        address=Address(line_1="Main 1", city="Brno", postal_code="60200", country="CZ"),
        metadata={"tier": "gold"},
        created_at=datetime(2022, 8, 30, 6, 32, 7, 380000, tzinfo=UTC),
        updated_at=datetime(2022, 8, 31, 8, 0, tzinfo=UTC),
        raw=API_CUSTOMER,
    )
    assert customer == expected
    assert vars(customer) == vars(expected)  # every field set, nothing more
    assert hash(customer.address) == hash(expected.address)
    assert customer.summary.orders.total_count == 3  # cached properties still work
    with pytest.raises(dataclasses.FrozenInstanceError):
        customer.name = "someone else"


def test_a_sparse_customer_and_a_page_of_them():
    page = CustomerPage.from_api({"data_ref": "customers", "customers": [{"id": "cust_2"}], "total": 1})
    (customer,) = page.customers
    assert vars(customer) == vars(Customer(id="cust_2", source_id=None, name=None, email=None, phone=None,
                                           birthdate=None, description=None, address=None, metadata={},
                                           created_at=None, updated_at=None, raw={"id": "cust_2"}))  # fmt: skip


def reference_parse(value):
    """parse_datetime as it was before it tried ``fromisoformat`` first."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2022-08-30T06:32:07.380Z",
        "2022-08-30T06:32:07Z",
        "2022-08-30T06:32:07.380123+02:00",
        "2022-08-30T06:32:07",
        "2022-08-30",
        "2022-08-30t06:32:07z",
        " 2022-08-30T06:32:07.380Z ",
        "2022-08-30 06:32",
        "20220830T063207Z",
        "not a date",
        "2022-13-45T00:00:00Z",
        "",
        None,
        12345,
    ],
)
def test_dates_parse_as_before(value):
    assert parse_datetime(value) == reference_parse(value)
    if reference_parse(value) is not None:
        assert parse_datetime(value).utcoffset() == reference_parse(value).utcoffset()


def test_offsets_are_kept():
    assert parse_datetime("2022-08-30T06:32:07+02:00").tzinfo == timezone(timedelta(hours=2))
