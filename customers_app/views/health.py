"""The load balancer's health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..services import budget
from ..services.voucherify import VoucherifyError, get_client

VOUCHERIFY_CHECK_KEY = "healthz:voucherify"
# Load balancers poll often; Voucherify counts every call against the plan's rate limit.
VOUCHERIFY_CHECK_SECONDS = 30


def _probe_voucherify() -> str:
    client = get_client()
    client.timeout, client.total_timeout, client.max_retries = (2, 3), 3, 0  # answer the balancer fast
    try:
        client.get("/v1/customers", params={"limit": 1})
    except VoucherifyError as exc:
        return f"unavailable ({type(exc).__name__})"
    return "ok"


@require_GET
@never_cache
@login_not_required
def healthz_view(request):
    """200 while the database answers (503 otherwise); also says whether Voucherify answers.

    Voucherify being down does not fail the check: another app server could not do better, so
    taking this one out of the load balancer would not help. Nothing secret is included.
    """
    checks = {"database": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        checks["database"] = "unavailable"
    checks["voucherify"] = cache.get_or_set(VOUCHERIFY_CHECK_KEY, _probe_voucherify, VOUCHERIFY_CHECK_SECONDS)
    healthy = checks["database"] == "ok"
    body = {"status": "ok" if healthy else "unhealthy", **checks}
    if healthy:
        usage = budget.usage()
        body["api_budget"] = {"limit": usage.limit, "remaining": usage.remaining, "used": usage.calls}
    return JsonResponse(body, status=200 if healthy else 503)
