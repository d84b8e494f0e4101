"""Records refused attempts (403 for a signed-in user) in the audit trail, whichever view refused them."""

from __future__ import annotations

import logging

from .audit import audit_denied

logger = logging.getLogger("customers_app.audit")


class DeniedAttemptAuditMiddleware:
    """Appends an ``access.denied`` entry for every 403 answered to an authenticated user.

    Place it after AuthenticationMiddleware. A 403 from CSRF failures is included (the entry's
    detail says which method was refused); anonymous users are redirected to log in, not refused,
    so they never reach the trail. Static files and the sandbox API are not the dashboard's pages.
    """

    IGNORED_PREFIXES = ("/static/", "/sandbox/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403 and not request.path.startswith(self.IGNORED_PREFIXES):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                try:
                    audit_denied(request)
                except Exception:
                    # The refusal itself must still reach the user; the failure is logged.
                    logger.exception("could not record a denied attempt on %s", request.path)
        return response
