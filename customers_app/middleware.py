"""Turns Voucherify failures that a view did not handle into a friendly page (or an htmx alert)."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

from django.shortcuts import render

from .services.voucherify import AuthError, NotFound, RateLimited, RequestError, Unavailable, VoucherifyError

logger = logging.getLogger("customers_app.upstream")


def describe_upstream_error(exc: VoucherifyError) -> tuple[int, str, str]:
    """The status to answer with, a headline and what the user can do, for one upstream failure."""
    if isinstance(exc, RateLimited):
        return 429, "The team's Voucherify API budget is used up for now", retry_advice(exc)
    if isinstance(exc, AuthError):
        return (
            502,
            "Voucherify rejected the dashboard's API credentials",
            "The dashboard's Voucherify application id or secret key is wrong or lacks access. "
            "An administrator needs to fix VOUCHERIFY_APP_ID / VOUCHERIFY_APP_TOKEN.",
        )
    if isinstance(exc, NotFound):
        return 404, "Not found in Voucherify", "Voucherify has no record with that id."
    if isinstance(exc, Unavailable) and exc.timed_out:
        return (
            504,
            "Voucherify did not answer in time",
            "Voucherify did not answer within the time limit. Try again in a moment.",
        )
    if isinstance(exc, Unavailable):
        status = 503 if exc.status == 503 else 502
        return (
            status,
            "Voucherify is unavailable",
            "Voucherify could not be reached or gave an unusable answer. Try again in a moment.",
        )
    if isinstance(exc, RequestError):
        return 502, "Voucherify refused the request", exc.message or "Voucherify refused the request."
    return 502, "Voucherify failed", "Something went wrong talking to Voucherify. Try again in a moment."


def retry_advice(exc: RateLimited) -> str:
    """"Voucherify accepts calls again in 23 s, at 14:05:12 UTC." (or as near as is known)."""
    shared = (
        "Every agent, export and job of this Voucherify project draws on one API budget, and it is spent."
    )
    if exc.retry_at is None:
        return f"{shared} Try again in a minute."
    seconds = max(1, math.ceil((exc.retry_at - datetime.now(UTC)).total_seconds()))
    return f"{shared} Voucherify accepts calls again in {seconds} s, at {exc.retry_at:%H:%M:%S} UTC."


class UpstreamErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, VoucherifyError):
            return None
        status, headline, advice = describe_upstream_error(exception)
        logger.warning(
            "upstream failure shown to user: %s status=%s request_id=%s",
            type(exception).__name__,
            exception.status,
            exception.request_id,
        )
        htmx = getattr(request, "htmx", None)
        retry_url = (htmx.current_url if htmx else None) or request.get_full_path()
        context = {"headline": headline, "advice": advice, "error": exception, "status": status, "retry_url": retry_url}
        if htmx and not htmx.history_restore_request:
            response = render(request, "includes/upstream_error.html#alert", context, status=status)
            # Show the alert in the page's alert region instead of the element being swapped.
            response["HX-Retarget"] = "#alerts"
            response["HX-Reswap"] = "innerHTML"
            return response
        response = render(request, "includes/upstream_error.html", context, status=status)
        if isinstance(exception, RateLimited) and exception.retry_after is not None:
            response["Retry-After"] = str(max(1, math.ceil(exception.retry_after)))
        return response
