"""Turns Voucherify failures that a view did not handle into a friendly page (or an htmx alert)."""

from __future__ import annotations

import logging

from django.shortcuts import render

from .services.voucherify import AuthError, NotFound, RateLimited, RequestError, Unavailable, VoucherifyError

logger = logging.getLogger("customers_app.upstream")


def describe_upstream_error(exc: VoucherifyError) -> tuple[int, str, str]:
    """The status to answer with, a headline and what the user can do, for one upstream failure."""
    if isinstance(exc, RateLimited):
        wait = f"in about {exc.retry_after:.0f} seconds" if exc.retry_after else "in a minute"
        return (
            429,
            "Voucherify is rate limiting this dashboard",
            f"Too many requests were sent. Try again {wait}.",
        )
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
        context = {"headline": headline, "advice": advice, "error": exception, "status": status}
        htmx = getattr(request, "htmx", None)
        if htmx and not htmx.history_restore_request:
            response = render(request, "includes/upstream_error.html#alert", context, status=status)
            # Show the alert in the page's alert region instead of the element being swapped.
            response["HX-Retarget"] = "#alerts"
            response["HX-Reswap"] = "innerHTML"
            return response
        response = render(request, "includes/upstream_error.html", context, status=status)
        if isinstance(exception, RateLimited) and exception.retry_after:
            response["Retry-After"] = str(int(exception.retry_after))
        return response
