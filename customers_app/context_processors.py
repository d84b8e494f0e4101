"""Template context every dashboard page needs: sandbox badge, the user's role, the API budget."""

from __future__ import annotations

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .roles import role_of
from .services import budget


def dashboard(request) -> dict:
    user = getattr(request, "user", None)
    return {
        "sandbox_mode": settings.SANDBOX_MODE,
        # The login page's two ways in (customers_app.signin).
        "password_login": settings.PASSWORD_LOGIN,
        "sso_provider_name": settings.OIDC_PROVIDER_NAME if settings.OIDC_SERVER_URL else "",
        "user_role": role_of(user) if user is not None and user.is_authenticated else "",
        # The team's API budget as the governor sees it: as the page's own call left it, else read
        # (only when a page shows it).
        "api_budget": SimpleLazyObject(budget.page_usage),
    }
