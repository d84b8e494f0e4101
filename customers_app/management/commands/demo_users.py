"""Creates the sandbox demo users support, marketer and admin (sandbox mode only)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers_app.roles import ROLE_GROUPS

from .dashboard_user import set_user_role


class Command(BaseCommand):
    help = "Create or refresh the demo users for the built-in sandbox (password: DEMO_PASSWORD)."

    def handle(self, *args, **options):
        if not settings.SANDBOX_MODE:
            raise CommandError("Demo users exist only with the built-in sandbox (VOUCHERIFY_API_URL is set).")
        for role in ROLE_GROUPS:
            set_user_role(role, role, settings.DEMO_PASSWORD)
        if options["verbosity"]:
            self.stdout.write(f"Demo users: {', '.join(ROLE_GROUPS)} (password: the DEMO_PASSWORD setting).")
