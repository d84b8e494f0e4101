"""The ``sandbox_seed`` command: deterministic, ``--if-empty`` and ``--reset``, with consistent data."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from sandbox.models import Customer, CustomerEvent, RedeemableHolder, Segment, SegmentMembership
from sandbox.services import customer_json, matches

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def snapshot():
    return list(Customer.objects.order_by("created_at").values_list("id", "source_id", "email", "created_at"))


def test_seed_is_deterministic_and_guards_existing_data(capsys):
    call_command("sandbox_seed", customers=60)
    first = snapshot()
    assert len(first) == 60 and Segment.objects.count() == 12
    call_command("sandbox_seed", customers=60, if_empty=True)
    assert "not seeding" in capsys.readouterr().out and snapshot() == first
    with pytest.raises(CommandError):
        call_command("sandbox_seed", customers=5)
    call_command("sandbox_seed", customers=60, reset=True)
    assert snapshot() == first
    call_command("sandbox_seed", customers=20, reset=True, seed=7)
    assert len(snapshot()) == 20 and snapshot()[0][0] != first[0][0]


def test_seeded_data_is_consistent():
    call_command("sandbox_seed", customers=300)
    customers = list(Customer.objects.all())
    assert all(c.updated_at >= c.created_at for c in customers)
    assert len({c.created_at for c in customers}) == 300
    assert len({c.email for c in customers}) < 300  # a few shared e-mail addresses on purpose
    assert len({c.address["city"] for c in customers if c.address}) > 25
    assert any(isinstance(c.metadata.get("preferences"), dict) for c in customers)
    assert RedeemableHolder.objects.values("customer").distinct().count() > 150
    assert {"GIFT_VOUCHER", "LOYALTY_CARD", "DISCOUNT_VOUCHER"} <= set(
        RedeemableHolder.objects.values_list("voucher_type", flat=True)
    )
    for segment in Segment.objects.filter(type=Segment.AUTO_UPDATE):
        members = set(SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True))
        assert members == {c.id for c in customers if matches(segment.filter, customer_json(c))}
    assert SegmentMembership.objects.filter(segment__type=Segment.STATIC).exists()
    first_events = CustomerEvent.objects.filter(customer_id=customers[0].id).order_by("created_at", "id")
    assert first_events[0].type == "customer.created"
