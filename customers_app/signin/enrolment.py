"""Roles in ``MFA_REQUIRED_ROLES`` (default admin) enrol a second factor before using the dashboard."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from ..roles import role_key_of
from .guards import has_second_factor

# The sign-in pages themselves (enrolment lives there), static files and the health check stay open.
_OPEN_PREFIXES = ("/accounts/", "/static/", "/healthz", "/sandbox/")


class SecondFactorEnrolmentMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(_OPEN_PREFIXES)
            and role_key_of(user) in settings.MFA_REQUIRED_ROLES
            and not has_second_factor(user)
        ):
            return redirect(f"{reverse('mfa_index')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
