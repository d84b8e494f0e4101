"""Creates the sandbox demo users support, marketer and admin (sandbox mode only)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers_app.roles import ROLE_GROUPS, role_needs_second_factor
from customers_app.signin.factors import enrol_totp

from .dashboard_user import set_user_role


class Command(BaseCommand):
    help = "Create or refresh the demo users for the built-in sandbox (password: DEMO_PASSWORD)."

    def handle(self, *args, **options):
        if not settings.SANDBOX_MODE:
            raise CommandError("Demo users exist only with the built-in sandbox (VOUCHERIFY_API_URL is set).")
        for role in ROLE_GROUPS:
            user, _ = set_user_role(role, role, settings.DEMO_PASSWORD)
            if role in settings.MFA_REQUIRED_ROLES or role_needs_second_factor(role):
                # The demo goes through the real second step: an authenticator app with DEMO_TOTP_SECRET
                # (admin must have one; marketer needs one for bulk updates).
                enrol_totp(user, settings.DEMO_TOTP_SECRET)
        if options["verbosity"]:
            self.stdout.write(
                f"Demo users: {', '.join(ROLE_GROUPS)} (password: the DEMO_PASSWORD setting; "
                "marketer and admin also need a code from DEMO_TOTP_SECRET)."
            )
