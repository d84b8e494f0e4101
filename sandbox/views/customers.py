"""Customer CRUD, listing and permanent deletion."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import StrIndex
from django.db.models.lookups import GreaterThan
from django.http import HttpResponse, JsonResponse

from sandbox.api import api_view, choice_param, datetime_param, int_param, iso, json_body, new_id, now
from sandbox.models import Customer, CustomerEvent, RedeemableHolder, SegmentMembership
from sandbox.routers import SANDBOX_DB
from sandbox.services import (
    clean_customer,
    customer_json,
    get_customer,
    record_event,
    snapshot,
    update_customer,
    upsert_customer,
)

LIST_ORDERS = ("created_at", "-created_at", "updated_at", "-updated_at", "source_id", "-source_id")


def list_customers(params) -> dict:
    """One page of customers.

    Filters: ``email`` and ``city`` match exactly but case-insensitively, ``name`` is a
    case-insensitive substring, ``segment_id`` is membership, and ``created_at``/``updated_at``
    ``[before]``/``[after]`` are exclusive bounds. ``total`` counts every match regardless of page
    and cursor. ``starting_after`` is a ``created_at`` cursor: rows created after it for the
    ascending ``created_at``/``updated_at`` orders, rows created before it otherwise. Ties are broken
    by id so pages never repeat or skip rows.
    """
    limit = int_param(params, "limit", 1, 100, 10)
    page = int_param(params, "page", 1, 99, 1)
    order = choice_param(params, "order", LIST_ORDERS, "-created_at")
    matching = Q()
    if params.get("email"):
        matching &= Q(email_lower=params["email"].lower())
    if params.get("city"):
        matching &= Q(city_lower=params["city"].lower())
    if params.get("name"):
        # Both sides are str.lower()ed, so a plain substring test is the Unicode-aware match (and
        # INSTR is cheaper than LIKE over 100,000 rows).
        matching &= Q(GreaterThan(StrIndex("name_lower", Value(params["name"].lower())), 0))
    for field in ("created_at", "updated_at"):
        before = datetime_param(params, f"{field}[before]")
        after = datetime_param(params, f"{field}[after]")
        if before is not None:
            matching &= Q(**{f"{field}__lt": before})
        if after is not None:
            matching &= Q(**{f"{field}__gt": after})
    rows = Customer.objects.filter(matching)
    offset = (page - 1) * limit
    total = None
    if params.get("segment_id"):
        members = SegmentMembership.objects.filter(segment_id=params["segment_id"])
        size = members.count()
        in_segment = Exists(members.filter(customer=OuterRef("pk")))
        # A membership names an existing customer (foreign key) at most once (unique constraint), so
        # without other filters the segment's size is the count.
        total = rows.filter(in_segment).count() if matching and size else size
        if total:
            # Two ways to the page, the same rows either way. EXISTS walks the order's index checking
            # each customer's membership (about 0.6 µs a check) until offset + limit + 1 of the matches
            # turn up: cheap for big segments, and with other filters, which the index answers before
            # any check. IN reads every member's row for its sort key (3-5 µs each) and sorts them:
            # cheap for a small segment on its own.
            small = not matching and size * 6 < (offset + limit + 1) * Customer.objects.count() / total
            rows = rows.filter(id__in=members.values("customer_id")) if small else rows.filter(in_segment)
    counted = rows
    cursor = datetime_param(params, "starting_after")
    if cursor is not None:
        ascending = order in ("created_at", "updated_at")
        rows = rows.filter(**{f"created_at__{'gt' if ascending else 'lt'}": cursor})
    tie = "-id" if order.startswith("-") else "id"
    # The page's ids first, then their rows: a sort (or OFFSET) then handles ids, not ~2 KB rows.
    ids = []
    if total is None or offset < total:  # past the last match there is nothing to find
        ids = list(rows.order_by(order, tie).values_list("id", flat=True)[offset : offset + limit + 1])
    if total is None:
        # Without a cursor, a page that is not full shows the last match: the total is known without
        # counting, which spares a rare name a second walk over every customer.
        last_page = cursor is None and len(ids) <= limit and (ids or not offset)
        total = offset + len(ids) if last_page else counted.count()
    found = Customer.objects.in_bulk(ids[:limit])
    return {
        "object": "list",
        "data_ref": "customers",
        # A customer deleted between the two reads is left out.
        "customers": [customer_json(found[i]) for i in ids[:limit] if i in found],
        "total": total,
        "has_more": len(ids) > limit,
    }


@api_view("GET", "POST")
def customers(request):
    if request.method == "GET":
        return JsonResponse(list_customers(request.GET))
    fields = clean_customer(json_body(request, empty={}), with_ids=True)
    with transaction.atomic(using=SANDBOX_DB):
        customer, _ = upsert_customer(fields, group_id=request.voucherify_request_id)
    return JsonResponse(customer_json(customer))


@api_view("GET", "PUT", "DELETE")
def customer_detail(request, customer_id: str):
    if request.method == "GET":
        return JsonResponse(customer_json(get_customer(customer_id)))
    if request.method == "PUT":
        fields = clean_customer(json_body(request, empty={}), with_ids=False)
        with transaction.atomic(using=SANDBOX_DB):
            customer = get_customer(customer_id)
            update_customer(customer, fields, group_id=request.voucherify_request_id)
        return JsonResponse(customer_json(customer))
    with transaction.atomic(using=SANDBOX_DB):
        customer = get_customer(customer_id)
        record_event(customer, "customer.deleted", {"customer": snapshot(customer)}, request.voucherify_request_id)
        customer.delete()
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


@api_view("POST")
def permanent_deletion(request, customer_id: str):
    """Removes the customer with its activity, redeemables and segment memberships, and says how many."""
    with transaction.atomic(using=SANDBOX_DB):
        customer = get_customer(customer_id)
        deleted_id = customer.id
        events, _ = CustomerEvent.objects.filter(customer_id=customer.id).delete()
        segments, _ = SegmentMembership.objects.filter(customer=customer).delete()
        RedeemableHolder.objects.filter(customer=customer).delete()
        customer.delete()
    return JsonResponse(
        {
            "id": new_id("del_"),
            "created_at": iso(now()),
            "related_object_id": deleted_id,
            "related_object": "customer",
            "status": "DONE",
            "data_json": {
                "events": events,
                "customer_events": events,
                "daily_events": 0,
                "segments": segments,
                "orders": 0,
                "order_events": 0,
                "customer": 1,
            },
            "object": "pernament_deletion",
        }
    )
