"""Customer reads and writes against Voucherify's Customers API, returning typed objects."""

from __future__ import annotations

import contextlib
import re
from datetime import date, datetime
from typing import Any, TypedDict, Unpack

from customers_app.services.voucherify import NotFound, Pending, deep_object, get_client, path
from customers_app.types import (
    ActivityPage,
    Customer,
    CustomerPage,
    ListedCustomerPage,
    PermanentDeletion,
    RedeemablePage,
    Segment,
    format_api_datetime,
)

type DateLike = date | datetime | str

EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters without the Nones; dates in the API's format."""
    return {
        name: format_api_datetime(value) if isinstance(value, date) else value
        for name, value in values.items()
        if value is not None and value != ""
    }


class CustomerListQuery(TypedDict, total=False):
    """What ``customer_list`` filters and pages by (``limit`` 10 unless given). ``page`` only reaches
    99 pages; ``starting_after`` (a ``created_at`` cursor, see ``CustomerPage.next_starting_after``)
    goes further."""

    email: str | None
    city: str | None
    name: str | None
    segment_id: str | None
    created_at_before: DateLike | None
    created_at_after: DateLike | None
    updated_at_before: DateLike | None
    updated_at_after: DateLike | None
    order: str | None
    limit: int
    page: int | None
    starting_after: DateLike | None


_DATE_RANGE_PARAMS = {
    "created_at_before": "created_at[before]",
    "created_at_after": "created_at[after]",
    "updated_at_before": "updated_at[before]",
    "updated_at_after": "updated_at[after]",
}


def customer_list(**query: Unpack[CustomerListQuery]) -> CustomerPage:
    """One page of customers, newest first unless ``order`` says otherwise.

    Raises Unavailable, RateLimited, AuthError or RequestError (bad filter values).
    """
    return CustomerPage.from_api(get_client().get("/v1/customers", params=_list_params(query)))


def customer_list_soon(**query: Unpack[CustomerListQuery]) -> Pending[ListedCustomerPage]:
    """``customer_list`` for the list's table, sent now and answered later so the page renders
    meanwhile: ``result()`` gives the page with lean rows (only the table's columns) or raises what
    ``customer_list`` would (``Unavailable`` also for an answer not shaped as the API's list)."""
    return get_client().get_soon("/v1/customers", params=_list_params(query), parse=ListedCustomerPage.from_json)


def _list_params(query: CustomerListQuery) -> dict[str, Any]:
    unknown = query.keys() - CustomerListQuery.__annotations__.keys()
    if unknown:
        raise TypeError(f"customer_list() got unexpected filters: {', '.join(sorted(unknown))}")
    return _params(**{"limit": 10} | {_DATE_RANGE_PARAMS.get(name, name): value for name, value in query.items()})


def customer_get(*, customer_id: str) -> Customer:
    """The customer with this Voucherify id or source id.

    Raises NotFound, Unavailable, RateLimited or AuthError.
    """
    return Customer.from_api(get_client().get(path("/v1/customers/{}", customer_id)))


def customer_create(*, data: dict[str, Any]) -> Customer:
    """Creates a customer; Voucherify upserts, so an existing ``id``/``source_id`` is updated instead.

    Never retried. Raises RequestError (invalid data), Unavailable, RateLimited or AuthError.
    """
    return Customer.from_api(get_client().post("/v1/customers", json=data))


def customer_update(*, customer_id: str, changes: dict[str, Any]) -> Customer:
    """Changes only the fields in ``changes`` (``CustomerBase``: no id or source_id).

    Raises NotFound, RequestError, Unavailable, RateLimited or AuthError.
    """
    return Customer.from_api(get_client().put(path("/v1/customers/{}", customer_id), json=changes))


def customer_delete(*, customer_id: str) -> None:
    """Deletes the customer (Voucherify keeps related records; see permanent deletion).

    Raises NotFound, Unavailable, RateLimited or AuthError.
    """
    get_client().delete(path("/v1/customers/{}", customer_id))


def customer_permanently_delete(*, customer_id: str) -> PermanentDeletion:
    """Erases the customer and their events, segments and orders for good (GDPR erasure).

    Never retried. Raises NotFound, Unavailable, RateLimited or AuthError.
    """
    data = get_client().post(path("/v1/customers/{}/permanent-deletion", customer_id))
    return PermanentDeletion.from_api(data)


def customers_import_csv(*, file_name: str, content: bytes) -> str:
    """Queues a CSV import (header row first) and returns the async action id to poll.

    Never retried. Raises RequestError (bad file, or 413 over 10 MB), Unavailable, RateLimited
    or AuthError.
    """
    files = {"file": (file_name, content, "text/csv")}
    return get_client().post("/v1/customers/importCSV", files=files)["async_action_id"]


def customers_bulk_update(*, updates: list[dict[str, Any]]) -> str:
    """Queues updates (each with a ``source_id``; unknown ones are created) and returns the async action id.

    Never retried. Raises RequestError (including 413), Unavailable, RateLimited or AuthError.
    """
    return get_client().post("/v1/customers/bulk/async", json=updates)["async_action_id"]


def customers_metadata_update(*, source_ids: list[str], metadata: dict[str, Any]) -> str:
    """Queues one metadata change for many customers and returns the async action id.

    Never retried. Raises RequestError (including 413), Unavailable, RateLimited or AuthError.
    """
    body = {"source_ids": list(source_ids), "metadata": metadata}
    return get_client().post("/v1/customers/metadata/async", json=body)["async_action_id"]


def customer_activity_list(
    *,
    customer_id: str,
    limit: int = 10,
    starting_after_id: str | None = None,
    category: str | None = None,
    type: str | None = None,  # the API's parameter name
    campaign_id: str | None = None,
    campaign_type: str | None = None,
    start_date: DateLike | None = None,
    end_date: DateLike | None = None,
    order: str | None = None,
) -> ActivityPage:
    """One page of the customer's activity; pass ``ActivityPage.next_cursor`` as ``starting_after_id``.

    Raises NotFound, RequestError, Unavailable, RateLimited or AuthError.
    """
    params = _params(
        limit=limit,
        starting_after_id=starting_after_id,
        category=category,
        type=type,
        campaign_id=campaign_id,
        campaign_type=campaign_type,
        start_date=start_date,
        end_date=end_date,
        order=order,
    )
    data = get_client().get(path("/v1/customers/{}/activity", customer_id), params=params)
    return ActivityPage.from_api(data, limit=limit)


def customer_activities_list(
    *,
    customer_id: str,
    limit: int = 10,
    starting_after: DateLike | None = None,
    starting_after_id: str | None = None,
    campaign_id: str | None = None,
    campaign_type: str | None = None,
    product_id: str | None = None,
    start_date: DateLike | None = None,
    end_date: DateLike | None = None,
    order: str | None = None,
) -> ActivityPage:
    """The deprecated ``/activities`` list, for projects on older API versions.

    It returns ``total`` but no ``has_more``, so a full page is reported as possibly having more.

    Raises NotFound, RequestError, Unavailable, RateLimited or AuthError.
    """
    params = _params(
        limit=limit,
        starting_after=starting_after,
        starting_after_id=starting_after_id,
        campaign_id=campaign_id,
        campaign_type=campaign_type,
        product_id=product_id,
        start_date=start_date,
        end_date=end_date,
        order=order,
    )
    data = get_client().get(path("/v1/customers/{}/activities", customer_id), params=params)
    return ActivityPage.from_api(data, limit=limit)


def customer_redeemables_list(
    *,
    customer_id: str,
    limit: int = 10,
    starting_after_id: str | None = None,
    filters: dict[str, Any] | None = None,
    order: str | None = None,
) -> RedeemablePage:
    """One page of the vouchers and cards the customer holds.

    ``filters`` is nested the way the API documents it, e.g.
    ``{"holder_role": {"conditions": {"$in": ["OWNER"]}}}``, and sent as a deepObject
    (``filters[holder_role][conditions][$in]=OWNER``).

    Raises NotFound, RequestError, Unavailable, RateLimited or AuthError.
    """
    params = _params(limit=limit, starting_after_id=starting_after_id, order=order)
    if filters:
        params.update(deep_object("filters", filters))
    data = get_client().get(path("/v1/customers/{}/redeemables", customer_id), params=params)
    return RedeemablePage.from_api(data)


def customer_segments_list(*, customer_id: str) -> list[Segment]:
    """The segments the customer belongs to (an unknown customer gets the ones they would qualify for).

    Raises Unavailable, RateLimited or AuthError.
    """
    data = get_client().get(path("/v1/customers/{}/segments", customer_id))
    items = data.get(data.get("data_ref") or "data") or data.get("data") or []
    return [Segment.from_api(item) for item in items]


def customer_find(*, query: str) -> list[Customer]:
    """Customers matching what someone typed into "jump to customer": an id, a source id or an email.

    An email-looking query also lists every customer with that email (Voucherify allows
    duplicates), after the customer whose source id it is, since many projects use emails as
    source ids. Returns [] when nothing matches.

    Raises Unavailable, RateLimited or AuthError.
    """
    query = query.strip()
    if not query:
        return []
    found: list[Customer] = []
    with contextlib.suppress(NotFound):
        found.append(customer_get(customer_id=query))
    if EMAIL_LIKE.match(query):
        known = {customer.id for customer in found}
        matches = customer_list(email=query, limit=100).customers
        found.extend(customer for customer in matches if customer.id not in known)
    return found
