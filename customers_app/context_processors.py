"""Template context every dashboard page needs: sandbox badge and the user's role."""

from __future__ import annotations

from django.conf import settings

from .roles import role_of


def dashboard(request) -> dict:
    user = getattr(request, "user", None)
    return {
        "sandbox_mode": settings.SANDBOX_MODE,
        "user_role": role_of(user) if user is not None and user.is_authenticated else "",
    }
