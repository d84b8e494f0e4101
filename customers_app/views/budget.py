"""The team's Voucherify API budget as the governor sees it, and what is spending it."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..roles import VIEW_AUDIT, perm
from ..services import budget


@permission_required(perm(VIEW_AUDIT), raise_exception=True)
@require_GET
def budget_view(request):
    """For admins: the plan's limit, the calls in the current window by kind, and the rules in force."""
    usage = budget.usage()
    blocked_until = None
    if usage.blocked_until and usage.blocked_until > datetime.now(UTC).timestamp():
        blocked_until = datetime.fromtimestamp(usage.blocked_until, UTC)
    context = {
        "usage": usage,
        "limit_source": "VOUCHERIFY_RATE_LIMIT_PER_MINUTE" if budget.configured_limit() else "Voucherify's headers",
        "blocked_until": blocked_until,
        "background_share": settings.VOUCHERIFY_BACKGROUND_SHARE,
        "store": "Redis" if settings.VOUCHERIFY_BUDGET_REDIS_URL else "the dashboard's database",
        "nav": "budget",
    }
    return render(request, "budget.html", context)
