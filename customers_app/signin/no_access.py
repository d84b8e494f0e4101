"""Who gets in how: no password logins when ``PASSWORD_LOGIN`` is off, and a user without a dashboard
role (say, signed in by SSO with no mapped group) sees only the page that says so.

The no-access page is served here, at ``NO_ACCESS_PATH`` under allauth's ``accounts/``, so that this
middleware alone decides what such a user may open: that page, their own account pages (security,
sessions, log out), and public pages (login, health check, static files, the sandbox API).
Everything else answers 403 with that page in place (the URL they opened stays in the address bar).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.urls import reverse

from customers_app.roles import ROLE_GROUPS, role_key_of

ACCOUNT_PAGES_PREFIX = "/accounts/"  # where dashboard/urls.py mounts allauth
NO_ACCESS_PATH = ACCOUNT_PAGES_PREFIX + "no-access/"


def has_dashboard_access(user) -> bool:
    return user.is_superuser or bool(role_key_of(user))


def _admins_to_ask() -> list[str]:
    admin_group = ROLE_GROUPS["admin"][0]
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=admin_group)
        .order_by("username")
        .values_list("username", flat=True)[:5]
    )


def no_access_page(request, status: int = 200):
    """Tells a signed-in user without a role that they have no access yet, and whom to ask."""
    role_map = settings.OIDC_ROLE_MAP if request.user.socialaccount_set.exists() else {}
    context = {
        "role_groups": [(role, ", ".join(groups)) for role, groups in role_map.items()],
        "admins": _admins_to_ask(),
    }
    return render(request, "signin/no_access.html", context, status=status)


class SignInPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == NO_ACCESS_PATH:
            if not request.user.is_authenticated:
                return redirect(settings.LOGIN_URL)
            if has_dashboard_access(request.user):
                return redirect(settings.LOGIN_REDIRECT_URL)
            return no_access_page(request)
        if request.method == "POST" and not settings.PASSWORD_LOGIN and request.path == reverse("account_login"):
            messages.error(request, "Signing in with a dashboard password is turned off here. Use single sign-on.")
            return redirect("account_login")
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or has_dashboard_access(user):
            return None
        if not getattr(view_func, "login_required", True) or request.path.startswith(ACCOUNT_PAGES_PREFIX):
            return None
        # In place, with 403: whatever they open (a bookmark, the landing page after login) says so.
        return no_access_page(request, status=403)
