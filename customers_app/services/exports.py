"""Voucherify's Exports API: one call to ask for a customers CSV, a few to see it finish, one download.

An export of 100,000 customers costs a handful of calls instead of the 1,000 a walk of the list
needs (one per 100 customers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from customers_app.services.voucherify import get_client, path
from customers_app.types import Export


def export_create(*, fields: list[str], filters: dict[str, Any] | None = None, order: str | None = None) -> Export:
    """Asks Voucherify for a CSV of the customers matching ``filters`` (Voucherify's export conditions).

    Raises RequestError (a field or condition Voucherify does not know), Unavailable, RateLimited or AuthError.
    """
    parameters: dict[str, Any] = {"fields": fields}
    if filters:
        parameters["filters"] = filters
    if order:
        parameters["order"] = order
    body = {"exported_object": "customer", "parameters": parameters}
    return Export.from_api(get_client().post("/v1/exports", json=body))


def export_get(*, export_id: str) -> Export:
    """Raises NotFound, Unavailable, RateLimited or AuthError."""
    return Export.from_api(get_client().get(path("/v1/exports/{}", export_id)))


def export_delete(*, export_id: str) -> None:
    """Removes the export (and its file) from Voucherify. Raises NotFound, Unavailable, RateLimited or AuthError."""
    get_client().delete(path("/v1/exports/{}", export_id))


def export_download(*, url: str) -> Iterator[str]:
    """The export's CSV as lines of text (line ends kept), streamed from ``result.url``.

    Raises Unavailable, RateLimited, AuthError (a wrong token) or RequestError (a URL on a host that is
    not the API's or Voucherify's download host).
    """
    return get_client().stream_lines(url)
