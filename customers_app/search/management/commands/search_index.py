"""The search index from the command line: its status, a rebuild, a sync pass or reconciliation now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from customers_app.search.index import clear, index_state
from customers_app.search.sync import run_pass
from customers_app.search.tasks import ensure_scheduled, start_rebuild


def _when(moment) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


class Command(BaseCommand):
    help = "Show the customer search index's status, rebuild it, or run a sync pass now."

    def add_arguments(self, parser):
        parser.add_argument("--status", action="store_true", help="Ready, customers, last sync, watermark, last error.")
        parser.add_argument("--rebuild", action="store_true", help="Empty the index and queue its full load.")
        parser.add_argument("--foreground", action="store_true",
                            help="With --rebuild: run the full load here and now instead of queueing it.")  # fmt: skip
        parser.add_argument("--sync", action="store_true", help="Run one sync pass here and now.")
        parser.add_argument("--reconcile", action="store_true",
                            help="A sync pass and the reconciliation (drops customers deleted elsewhere).")  # fmt: skip
        parser.add_argument("--schedule", action="store_true", help="Start the periodic sync unless it is running.")

    def handle(self, *args, status, rebuild, foreground, sync, reconcile, schedule, **options):
        if not any((status, rebuild, sync, reconcile, schedule)):
            status = True
        if foreground and not rebuild:
            raise CommandError("--foreground goes with --rebuild.")
        if rebuild:
            if foreground:
                clear()
                self._report(run_pass(full=True))
            else:
                start_rebuild()
                self.stdout.write("Index emptied; its full load is queued (the task worker runs it).")
        if sync or reconcile:
            self._report(run_pass(reconcile=True if reconcile else None))
        if schedule:
            started = ensure_scheduled(force=True)
            self.stdout.write("Sync schedule started." if started else "Sync schedule already running.")
        if status:
            self._status()

    def _report(self, report) -> None:
        if report.kind == "busy":
            raise CommandError("Another sync pass holds the index's lease; try again when it has finished.")
        line = (f"{report.kind}: {report.upserted:,} written, {report.removed:,} removed, "
                f"{report.calls:,} Voucherify calls, {report.seconds:.1f} s")  # fmt: skip
        if report.error:
            raise CommandError(f"{line}; failed: {report.error}")
        self.stdout.write(line)

    def _status(self) -> None:
        state = index_state()
        lines = [
            f"Ready:          {'yes' if state.ready else 'no (warming up: the first full load has not finished)'}",
            f"Customers:      {state.customers:,}",
            f"Last sync:      {_when(state.last_sync_at)}",
            f"Watermark:      {_when(state.watermark)}"
            + (f" ({len(state.watermark_ids)} id(s) at it)" if state.watermark_ids else ""),
            f"Full load:      started {_when(state.full_load_started_at)}, "
            f"finished {_when(state.full_load_finished_at)}",
            f"Reconciled:     {_when(state.last_reconcile_at)}",
            f"Next pass due:  {_when(state.next_sync_at)}",
            f"Calls spent:    {state.calls_spent:,}",
            "Sync running:   "
            + (f"{state.lease_owner} until {_when(state.lease_until)}" if state.lease_owner else "no"),
            f"Last error:     {state.last_error or 'none'}"
            + (f" ({_when(state.last_error_at)})" if state.last_error else ""),
        ]
        self.stdout.write("\n".join(lines))
