"""``manage.py sandbox_seed``: fills the sandbox with deterministic demo customers."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from sandbox import seed as seeding
from sandbox.models import Customer


class Command(BaseCommand):
    help = "Seed the Voucherify sandbox with demo customers, segments, activity and redeemables."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000, help="How many customers (default 1000).")
        parser.add_argument("--seed", type=int, default=20250101, help="Random seed (default 20250101).")
        parser.add_argument("--reset", action="store_true", help="Delete all sandbox data first.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the sandbox already has customers."
        )

    def handle(self, *args, customers: int, seed: int, reset: bool, if_empty: bool, **options):
        if customers < 0:
            raise CommandError("--customers must be zero or more")
        if reset:
            seeding.clear()
        existing = Customer.objects.count()
        if existing:
            if if_empty:
                self.stdout.write(f"Sandbox already has {existing} customers; not seeding.")
                return
            raise CommandError(f"Sandbox already has {existing} customers; use --reset or --if-empty.")
        started = time.monotonic()
        seeding.seed(customers, random_seed=seed)
        self.stdout.write(f"Seeded {customers} customers in {time.monotonic() - started:.1f}s.")
