"""Async action reads: the progress and results of imports and bulk updates."""

from __future__ import annotations

from datetime import date, datetime

from customers_app.services.voucherify import get_client, path
from customers_app.types import AsyncAction, AsyncActionPage, format_api_datetime


def async_action_get(*, async_action_id: str) -> AsyncAction:
    """The action's status, progress and (once finished) result.

    Raises NotFound, Unavailable, RateLimited or AuthError.
    """
    return AsyncAction.from_api(get_client().get(path("/v1/async-actions/{}", async_action_id)))


def async_action_list(*, limit: int = 10, end_date: date | datetime | str | None = None) -> AsyncActionPage:
    """Recent async actions, newest first; ``end_date`` pages back (see ``AsyncActionPage.next_end_date``).

    Raises RequestError (bad limit or date), Unavailable, RateLimited or AuthError.
    """
    params: dict[str, object] = {"limit": limit}
    if end_date is not None:
        params["end_date"] = format_api_datetime(end_date)
    return AsyncActionPage.from_api(get_client().get("/v1/async-actions", params=params))
