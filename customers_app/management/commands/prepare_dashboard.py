"""Everything `make run` needs before serving: migrations, static files, and the sandbox demo."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from customers_app.background import resume_stale
from customers_app.roles import ROLE_GROUPS
from customers_app.search.tasks import schedule_at_start

DEMO_CUSTOMERS = 2000


class Command(BaseCommand):
    help = "Apply migrations, collect static files and, with the sandbox, seed it and create demo users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=int, default=DEMO_CUSTOMERS, help="Sandbox customers to seed the first time."
        )

    def handle(self, *args, customers, **options):
        call_command("migrate", interactive=False, verbosity=0)
        resumed = resume_stale()  # jobs a previous stop interrupted carry on once the worker starts
        schedule_at_start()  # the search index's sync: its first load, then a pass every SEARCH_SYNC_SECONDS
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        url = f"http://127.0.0.1:{settings.PORT}"
        lines = [f"Dashboard: {url}/"]
        if resumed:
            lines.append(f"Jobs:      {resumed} interrupted job(s) queued again")
        if settings.SANDBOX_MODE:
            call_command("migrate", database="sandbox", interactive=False, verbosity=0)
            call_command("sandbox_seed", customers=customers, if_empty=True)
            call_command("demo_users", verbosity=0)
            lines += [
                f"Sandbox:   {settings.VOUCHERIFY_API_URL}  (e.g. {settings.VOUCHERIFY_API_URL}/v1/customers)",
                f"           X-App-Id: {settings.VOUCHERIFY_APP_ID}  X-App-Token: (the VOUCHERIFY_APP_TOKEN setting)",
                "Logins:    " + ", ".join(ROLE_GROUPS) + f"  password: {settings.DEMO_PASSWORD}",
                "           marketer and admin also ask for an authenticator code: "
                f"add the secret {settings.DEMO_TOTP_SECRET} to an authenticator app (DEMO_TOTP_SECRET)",
            ]
        else:
            lines.append(f"Voucherify: {settings.VOUCHERIFY_API_URL}")
        self.stdout.write("\n".join(["", *lines, ""]))
