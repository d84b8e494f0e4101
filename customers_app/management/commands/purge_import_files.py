"""Deletes the import wizard's abandoned uploads (after 24 hours) and old sent files (after 7 days)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from customers_app.csv_import import import_files_cleanup


class Command(BaseCommand):
    help = (
        "Delete import uploads older than 24 hours and files sent to Voucherify older than 7 days. "
        "The wizard and the job list also do this on the way; run it from cron for quiet periods."
    )

    def handle(self, *args, **options):
        deleted = import_files_cleanup()
        self.stdout.write(f"Deleted {deleted.get('upload', 0)} upload(s) and {deleted.get('sent', 0)} sent file(s).")
