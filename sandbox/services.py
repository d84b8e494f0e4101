"""Customer domain logic of the sandbox: validation, upserts, activity, segments and JSON shapes."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from django.conf import settings

from sandbox.api import ApiError, iso, new_id, not_found, now
from sandbox.models import Customer, CustomerEvent, Segment, SegmentMembership

STRING_FIELDS = ("name", "description", "email", "phone")
ADDRESS_FIELDS = ("city", "state", "line_1", "line_2", "country", "postal_code")


def empty_summary() -> dict:
    return {
        "redemptions": {
            "total_redeemed": 0,
            "total_failed": 0,
            "total_succeeded": 0,
            "total_rolled_back": 0,
            "total_rollback_failed": 0,
            "total_rollback_succeeded": 0,
            "gift": {"redeemed_amount": 0, "amount_to_go": 0},
            "loyalty_card": {"redeemed_points": 0, "points_to_go": 0},
        },
        "orders": {"total_amount": 0, "total_count": 0, "average_amount": 0, "last_order_amount": 0},
    }


def empty_loyalty() -> dict:
    return {"points": 0, "referred_customers": 0, "campaigns": {}}


def empty_referrals() -> dict:
    return {"total": 0, "campaigns": []}


def invalid(details: str) -> ApiError:
    return ApiError(400, "invalid_customer", "Invalid customer", details)


def _birthdate(value, key: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise invalid(f"{key} must be a date in YYYY-MM-DD format")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise invalid(f"{key} is not a valid date: {value}") from error


def clean_customer(body, *, with_ids: bool) -> dict:
    """The customer fields of a request body, type-checked like Voucherify does; unknown keys are ignored.

    E-mail addresses are not validated (Voucherify accepts any string), but wrong JSON types are 400s.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_payload", "Invalid payload", "The body must be a JSON object")
    clean: dict = {}
    for key in STRING_FIELDS:
        if key in body:
            if body[key] is not None and not isinstance(body[key], str):
                raise invalid(f"{key} must be a string")
            clean[key] = body[key]
    for key in ("birthday", "birthdate"):
        if key in body:
            clean["birthdate"] = _birthdate(body[key], key)
    if "address" in body:
        address = body["address"]
        if address is not None:
            if not isinstance(address, dict):
                raise invalid("address must be an object")
            for key in ADDRESS_FIELDS:
                if address.get(key) is not None and not isinstance(address[key], str):
                    raise invalid(f"address.{key} must be a string")
            address = {k: address[k] for k in ADDRESS_FIELDS if k in address}
        clean["address"] = address
    if "metadata" in body:
        if body["metadata"] is not None and not isinstance(body["metadata"], dict):
            raise invalid("metadata must be an object")
        clean["metadata"] = body["metadata"] or {}
    if with_ids:
        for key in ("id", "source_id"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise invalid(f"{key} must be a non-empty string")
            if value is not None:
                clean[key] = value
    return clean


def find_customer(key: str) -> Customer | None:
    """A customer by Voucherify id or, failing that, by source id."""
    return Customer.objects.filter(id=key).first() or Customer.objects.filter(source_id=key).first()


def get_customer(key: str) -> Customer:
    customer = find_customer(key)
    if customer is None:
        raise not_found("customer", key)
    return customer


def _apply(customer: Customer, fields: dict) -> None:
    """Sets the sent fields: ``address`` keys merge into the stored address, ``metadata`` is replaced."""
    for key in (*STRING_FIELDS, "birthdate", "metadata", "source_id"):
        if key in fields:
            setattr(customer, key, fields[key])
    if "address" in fields:
        new = fields["address"]
        merged = None if new is None else {**(customer.address or {}), **new}
        customer.address = {k: v for k, v in merged.items() if v is not None} if merged else None
    customer.name_lower = customer.name.lower() if customer.name else None
    customer.email_lower = customer.email.lower() if customer.email else None
    city = (customer.address or {}).get("city")
    customer.city_lower = city.lower() if city else None


def upsert_customer(fields: dict, *, group_id: str, merge_metadata: bool = False) -> tuple[Customer, bool]:
    """Updates the customer named by ``id`` (else ``source_id``) or creates one; records the activity.

    An unknown ``id`` is a 404: ids are assigned by the sandbox, so a client cannot pick one.
    """
    fields = dict(fields)
    customer_id = fields.pop("id", None)
    if customer_id is not None:
        customer = Customer.objects.filter(id=customer_id).first()
        if customer is None:
            raise not_found("customer", customer_id)
        fields.pop("source_id", None)
    elif fields.get("source_id") is not None:
        customer = Customer.objects.filter(source_id=fields["source_id"]).first()
    else:
        customer = None
    if customer is not None:
        update_customer(customer, fields, group_id=group_id, merge_metadata=merge_metadata)
        return customer, False
    moment = unique_created_at()
    customer = Customer(
        id=new_id("cust_"),
        created_at=moment,
        updated_at=moment,
        metadata={},
        summary=empty_summary(),
        loyalty=empty_loyalty(),
        referrals=empty_referrals(),
    )
    _apply(customer, fields)
    customer.save(force_insert=True)
    record_event(customer, "customer.created", {"customer": snapshot(customer)}, group_id)
    refresh_segments(customer, group_id)
    return customer, True


def unique_created_at() -> datetime:
    """Now, or 1 ms after the newest customer: distinct ``created_at`` values keep the cursor exact.

    Callers hold the write transaction (SQLite ``IMMEDIATE``), so concurrent creates cannot collide.
    """
    moment = now()
    newest = Customer.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if newest is not None and newest >= moment:
        moment = newest + timedelta(milliseconds=1)
    return moment


def update_customer(customer: Customer, fields: dict, *, group_id: str, merge_metadata: bool = False) -> None:
    if merge_metadata and "metadata" in fields:
        fields = {**fields, "metadata": {**customer.metadata, **fields["metadata"]}}
    _apply(customer, fields)
    customer.updated_at = now()
    customer.save()
    record_event(customer, "customer.updated", {"customer": snapshot(customer)}, group_id)
    refresh_segments(customer, group_id)


def event_source() -> dict:
    return {"channel": "API", "api_key": {"name": "Sandbox", "app_id": settings.VOUCHERIFY_APP_ID}}


def record_event(customer: Customer, event_type: str, data: dict, group_id: str, **extra) -> None:
    CustomerEvent.objects.create(
        id=new_id("evcus_"),
        customer_id=customer.id,
        type=event_type,
        data=data,
        group_id=group_id,
        created_at=now(),
        **extra,
    )


def snapshot(customer: Customer) -> dict:
    """The compact customer copy kept in activity entries (summary/loyalty/referrals left null)."""
    data = {"id": customer.id}
    for key in ("source_id", "name", "email"):
        if getattr(customer, key):
            data[key] = getattr(customer, key)
    return {**data, "summary": None, "loyalty": None, "referrals": None, "object": "customer"}


def customer_json(customer: Customer) -> dict:
    """The ``CustomerWithSummaryLoyaltyReferrals`` shape; unset optional strings are left out."""
    data: dict = {"id": customer.id}
    for key in ("source_id", *STRING_FIELDS):
        value = getattr(customer, key)
        if value is not None:
            data[key] = value
    if customer.birthdate:
        data["birthdate"] = data["birthday"] = customer.birthdate.isoformat()
    data.update(
        address=customer.address or None,
        summary=customer.summary or empty_summary(),
        loyalty=customer.loyalty or empty_loyalty(),
        referrals=customer.referrals,
        metadata=customer.metadata or {},
        system_metadata=customer.system_metadata or {},
        created_at=iso(customer.created_at),
        updated_at=iso(customer.updated_at),
        assets={
            "cockpit_url": f"https://cockpits.voucherify.io/customer/{customer.id}",
            "cockpit_preference_center_url": f"https://cockpits.voucherify.io/preferences/{customer.id}",
        },
        object="customer",
    )
    return data


def _lookup(document: dict, path: str):
    value = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _fold(value):
    return value.casefold() if isinstance(value, str) else value


def _condition_holds(value, op: str, expected) -> bool:
    value, expected = _fold(value), _fold(expected)
    if op == "$is":
        return value == expected
    if op == "$in":
        return value in [_fold(v) for v in expected]
    if op == "$has_value":
        return value not in (None, "")
    if op in ("$more_than", "$less_than"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return value > expected if op == "$more_than" else value < expected
    raise ValueError(f"unsupported segment condition {op}")


def matches(segment_filter: dict | None, document: dict) -> bool:
    """Whether a customer's JSON satisfies an auto-update segment's filter.

    Filters use Voucherify's shape, e.g. ``{"junction": "and", "address.city": {"conditions":
    {"$is": "Warsaw"}}}``; supported conditions are ``$is``, ``$in``, ``$has_value``, ``$more_than``
    and ``$less_than``.
    """
    if not segment_filter:
        return False
    results = [
        _condition_holds(_lookup(document, path), op, expected)
        for path, rule in segment_filter.items()
        if path != "junction"
        for op, expected in rule["conditions"].items()
    ]
    return any(results) if segment_filter.get("junction") == "or" else all(results)


def refresh_segments(customer: Customer, group_id: str) -> None:
    """Recomputes auto-update memberships, recording segment entered/left activity."""
    document = customer_json(customer)
    current = set(
        SegmentMembership.objects.filter(customer=customer, segment__type=Segment.AUTO_UPDATE).values_list(
            "segment_id", flat=True
        )
    )
    for segment in Segment.objects.filter(type=Segment.AUTO_UPDATE):
        wanted = matches(segment.filter, document)
        if wanted and segment.id not in current:
            SegmentMembership.objects.create(segment=segment, customer=customer, created_at=now())
            event = "customer.segment.entered"
        elif not wanted and segment.id in current:
            SegmentMembership.objects.filter(segment=segment, customer=customer).delete()
            event = "customer.segment.left"
        else:
            continue
        data = {"customer": snapshot(customer), "segment": simple_segment(segment)}
        record_event(customer, event, data, group_id)


def simple_segment(segment: Segment) -> dict:
    return {"id": segment.id, "name": segment.name, "object": "segment"}


def segment_json(segment: Segment) -> dict:
    return {
        "id": segment.id,
        "name": segment.name,
        "created_at": iso(segment.created_at),
        "updated_at": iso(segment.updated_at),
        "type": segment.type,
        "filter": segment.filter,
        "object": "segment",
    }
