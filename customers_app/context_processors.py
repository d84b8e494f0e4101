"""Template context every dashboard page needs: sandbox badge, the user's role, the API rate limit."""

from __future__ import annotations

from django.conf import settings

from .roles import role_of
from .services.voucherify import rate_limit_status


def dashboard(request) -> dict:
    user = getattr(request, "user", None)
    return {
        "sandbox_mode": settings.SANDBOX_MODE,
        "user_role": role_of(user) if user is not None and user.is_authenticated else "",
        # The latest rate-limit headers Voucherify sent to this process (None until seen).
        "rate_limit": rate_limit_status(),
    }
