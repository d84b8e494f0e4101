"""A customer's activity, redeemables and segments."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from django.db.models import Q
from django.http import JsonResponse

from sandbox.api import (
    api_view,
    bad_query,
    choice_param,
    datetime_param,
    filters_param,
    int_param,
    iso,
)
from sandbox.models import Customer, CustomerEvent, RedeemableHolder, Segment
from sandbox.services import event_source, find_customer, get_customer, simple_segment

CONTRACT = Path(__file__).resolve().parent.parent / "contract" / "customers-openapi.json"
CAMPAIGN_TYPES = ("PROMOTION", "GIFT_VOUCHERS", "REFERRAL_PROGRAM", "DISCOUNT_COUPONS", "LOYALTY_PROGRAM")
# The deprecated /activities endpoint sorts by fields events do not have; those sort by date.
ACTIVITIES_ORDER_COLUMNS = {
    "created_at": "created_at",
    "updated_at": "created_at",
    "type": "type",
    "code": "created_at",
    "campaign": "campaign_id",
    "category": "category",
}
REDEEMABLE_FILTERS = {
    name: name
    for name in (
        "id",
        "created_at",
        "redeemable_id",
        "redeemable_object",
        "holder_role",
        "campaign_id",
        "campaign_type",
        "voucher_type",
    )
}


@functools.cache
def activity_types() -> tuple[str, ...]:
    """The event names the contract allows for ``CustomerActivity.type``."""
    spec = json.loads(CONTRACT.read_text())
    return tuple(spec["components"]["schemas"]["CustomerActivity"]["properties"]["type"]["enum"])


def event_json(event: CustomerEvent) -> dict:
    return {
        "id": event.id,
        "type": event.type,
        "data": {"data": event.data, "event_source": event_source()},
        "created_at": iso(event.created_at),
        "group_id": event.group_id,
    }


def _filtered_events(customer: Customer, params):
    rows = CustomerEvent.objects.filter(customer_id=customer.id)
    start, end = datetime_param(params, "start_date"), datetime_param(params, "end_date")
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    if end is not None:
        rows = rows.filter(created_at__lte=end)
    if params.get("campaign_id"):
        rows = rows.filter(campaign_id=params["campaign_id"])
    campaign_type = choice_param(params, "campaign_type", CAMPAIGN_TYPES)
    if campaign_type:
        rows = rows.filter(campaign_type=campaign_type)
    category = choice_param(params, "category", ("ACTION", "EFFECT"))
    if category:
        rows = rows.filter(category=category)
    event_type = choice_param(params, "type", activity_types())
    if event_type:
        rows = rows.filter(type=event_type)
    return rows


def _after_event(rows, params, column: str, descending: bool):
    """Rows after the event named by ``starting_after_id`` in the given order (ties broken by id)."""
    event_id = params.get("starting_after_id")
    if not event_id:
        return rows
    anchor = CustomerEvent.objects.filter(id=event_id).values(column).first()
    if anchor is None:
        raise bad_query(f"starting_after_id: no activity with id {event_id}")
    value = anchor[column]
    op = "lt" if descending else "gt"
    return rows.filter(Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"id__{op}": event_id}))


@api_view("GET")
def activity(request, customer_id: str):
    """``/activity``: id-cursor pagination with ``has_more`` and ``more_starting_after``."""
    customer = get_customer(customer_id)
    params = request.GET
    limit = int_param(params, "limit", 1, 100, 10)
    order = choice_param(params, "order", ("created_at", "-created_at"), "-created_at")
    descending = order.startswith("-")
    rows = _after_event(_filtered_events(customer, params), params, "created_at", descending)
    tie = "-id" if descending else "id"
    found = list(rows.order_by(order, tie)[: limit + 1])
    data = [event_json(e) for e in found[:limit]]
    body = {"object": "list", "data_ref": "data", "data": data, "has_more": len(found) > limit}
    if body["has_more"]:
        body["more_starting_after"] = data[-1]["id"]
    return JsonResponse(body)


@api_view("GET")
def activities(request, customer_id: str):
    """Deprecated: ``total``; cursor ``starting_after`` (date) or ``starting_after_id``."""
    customer = get_customer(customer_id)
    params = request.GET
    limit = int_param(params, "limit", 1, 100, 10)
    orders = [f"{sign}{name}" for name in ACTIVITIES_ORDER_COLUMNS for sign in ("", "-")]
    order = choice_param(params, "order", orders, "-created_at")
    descending = order.startswith("-")
    column = ACTIVITIES_ORDER_COLUMNS[order.lstrip("-")]
    rows = _filtered_events(customer, params)
    total = rows.count()
    cursor = datetime_param(params, "starting_after")
    if cursor is not None:
        rows = rows.filter(**{f"created_at__{'lt' if descending else 'gt'}": cursor})
    rows = _after_event(rows, params, column, descending)
    sign = "-" if descending else ""
    found = rows.order_by(f"{sign}{column}", f"{sign}id")[:limit]
    return JsonResponse({"object": "list", "data_ref": "data", "data": [event_json(e) for e in found], "total": total})


def redeemable_json(holder: RedeemableHolder) -> dict:
    return {
        "id": holder.id,
        "created_at": iso(holder.created_at),
        "redeemable_id": holder.redeemable_id,
        "redeemable_object": holder.redeemable_object,
        "customer_id": holder.customer_id,
        "holder_role": holder.holder_role,
        "campaign_id": holder.campaign_id,
        "campaign_type": holder.campaign_type,
        "voucher_type": holder.voucher_type,
        "redeemable": {"type": holder.redeemable_object, "voucher": holder.voucher, "status": holder.status},
    }


@api_view("GET")
def redeemables(request, customer_id: str):
    customer = get_customer(customer_id)
    params = request.GET
    limit = int_param(params, "limit", 1, 100, 10)
    order = choice_param(params, "order", ("id", "-id"), "id")
    rows = RedeemableHolder.objects.filter(customer=customer).filter(filters_param(params, REDEEMABLE_FILTERS))
    total = rows.count()
    if params.get("starting_after_id"):
        op = "lt" if order == "-id" else "gt"
        rows = rows.filter(**{f"id__{op}": params["starting_after_id"]})
    found = list(rows.order_by(order)[: limit + 1])
    data = [redeemable_json(h) for h in found[:limit]]
    body = {
        "object": "list",
        "data_ref": "data",
        "data": data,
        "total": total,
        "has_more": len(found) > limit,
    }
    if body["has_more"]:
        body["more_starting_after"] = data[-1]["id"]
    return JsonResponse(body)


@api_view("GET")
def customer_segments(request, customer_id: str):
    """Never 404: an unknown customer simply belongs to no segment."""
    customer = find_customer(customer_id)
    segments = Segment.objects.filter(memberships__customer=customer).order_by("created_at", "id") if customer else []
    data = [simple_segment(s) for s in segments]
    return JsonResponse({"object": "list", "data_ref": "data", "data": data, "total": len(data)})
