"""Keeping the index in step with Voucherify, as background work within the API budget.

A *pass* holds the index's lease (one pass at a time, whichever machine runs it) and does one of:

- the **full load** (the index is not ready yet): one export of every customer with just the indexed
  fields, streamed and upserted in batches with flat memory; then the watermark is the newest
  ``updated_at`` seen and the index is ready. A load interrupted by a restart picks up its export.
- an **incremental pass**: the list ordered by ``updated_at`` from the watermark on, page by page.
  ``updated_at[after]`` is exclusive, so the pass asks from 1 ms before the watermark and skips the ids
  it already saw at exactly the watermark; a page that is all one millisecond goes on by page number.
- a **reconciliation** (every ``SEARCH_RECONCILE_HOURS``, after the incremental pass): an export of
  ids only; indexed customers it does not hold were deleted outside the dashboard and are removed.

Rows the dashboard wrote after an export was asked for are never swept by it (they are newer).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from ..background import runner_name
from ..services import budget
from ..services.customers import customer_list
from ..services.exports import export_create, export_delete, export_download, export_get
from ..services.voucherify import NotFound, VoucherifyError
from . import engine, index
from .index import BATCH_SIZE, Row, index_state
from .models import SearchIndexState

logger = logging.getLogger("customers_app.search")

LOAD_FIELDS = ["id", "source_id", "name", "email", "phone", "address_city", "address_country", "created_at",
               "updated_at"]  # fmt: skip
PAGE_SIZE = 100
MAX_PAGE = 99  # Voucherify's page parameter goes no further
# Seconds between looks at an export being written: quick at first, then sparing with the budget.
POLL_DELAYS = (1, 2, 3, 5, 8, 13, 20, 30)
MAX_LOOKS = 400
# A pass asked for again while it ran (an import finished) goes round this many more times at most.
MAX_EXTRA_ROUNDS = 3
ONE_MS = timedelta(milliseconds=1)


class LeaseLost(Exception):
    """Another machine took the lease over (this pass was thought dead): stop without writing more."""


@dataclass
class PassReport:
    """What one pass did (kept as ``SearchIndexState.last_pass``)."""

    kind: str = ""  # "full_load", "incremental", "busy" (another pass holds the lease) or "failed"
    upserted: int = 0
    removed: int = 0
    pages: int = 0
    rounds: int = 0
    reconciled: bool = False
    calls: int = 0
    seconds: float = 0.0
    error: str = ""
    started_at: str = ""
    steps: list[str] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.kind not in ("busy", "")

    def as_dict(self) -> dict:
        return asdict(self)


# The lease -------------------------------------------------------------------------------------------


class Lease:
    """The index's lease in its state row: taken by an atomic UPDATE only when it is free or expired."""

    def __init__(self, owner: str | None = None):
        self.owner = owner or f"{runner_name()}:{uuid.uuid4().hex[:8]}"[:100]
        self.renewed = 0.0

    @staticmethod
    def seconds() -> float:
        return float(settings.SEARCH_LEASE_SECONDS)

    def acquire(self) -> bool:
        index_state()
        now = timezone.now()
        taken = (
            SearchIndexState.objects.filter(pk=1)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=self.owner))
            .update(lease_owner=self.owner, lease_until=now + timedelta(seconds=self.seconds()))
        )
        self.renewed = time.monotonic()
        return bool(taken)

    def renew(self, *, force: bool = False) -> None:
        """Extends the lease (at most every few seconds unless ``force``); raises LeaseLost if it was taken."""
        if not force and time.monotonic() - self.renewed < min(5.0, self.seconds() / 4):
            return
        until = timezone.now() + timedelta(seconds=self.seconds())
        if not SearchIndexState.objects.filter(pk=1, lease_owner=self.owner).update(lease_until=until):
            raise LeaseLost
        self.renewed = time.monotonic()

    def release(self) -> None:
        SearchIndexState.objects.filter(pk=1, lease_owner=self.owner).update(lease_owner="", lease_until=None)


# One pass --------------------------------------------------------------------------------------------


def run_pass(*, full: bool = False, reconcile: bool | None = None, lease: Lease | None = None) -> PassReport:
    """One sync pass, unless another one holds the lease (then ``kind == "busy"`` and nothing was done).

    ``full``: a full load even when the index is ready. ``reconcile``: True or False to force or skip
    the reconciliation; None runs it when ``SEARCH_RECONCILE_HOURS`` have passed since the last.
    Upstream failures are recorded in the state (``last_error``) and the report, not raised.
    """
    lease = lease or Lease()
    report = PassReport(started_at=timezone.now().isoformat())
    if not lease.acquire():
        report.kind = "busy"
        return report
    started, began = time.monotonic(), timezone.now()
    try:
        with budget.background() as spent:
            try:
                _work(lease, report, full=full, reconcile=reconcile, began=began)
            finally:
                report.calls = spent[0]
    except LeaseLost:
        logger.warning("search index: another machine took the sync over; this pass stops")
        report.error = "lease lost"
    except (VoucherifyError, budget.Refused) as error:
        report.error = _describe(error)
        logger.warning("search index: sync pass failed: %s", report.error)
    except Exception as error:
        report.error = f"{type(error).__name__}: {error}"
        raise
    finally:
        report.seconds = round(time.monotonic() - started, 3)
        _record(report)
        lease.release()
    return report


def _describe(error: Exception) -> str:
    if isinstance(error, VoucherifyError):
        request_id = f" (request id {error.request_id})" if error.request_id else ""
        return f"Voucherify: {type(error).__name__}: {error.message}{request_id}"
    return "The API budget refused the call"


def _record(report: PassReport) -> None:
    now = timezone.now()
    changes: dict = {"last_pass": report.as_dict(), "calls_spent": F("calls_spent") + report.calls}
    if report.error:
        report.kind = report.kind or "failed"
        changes.update(last_error=report.error, last_error_at=now)
    elif report.ran:
        changes.update(last_sync_at=now, last_error="")
    SearchIndexState.objects.filter(pk=1).update(**changes)
    index.recount()


def _work(lease: Lease, report: PassReport, *, full: bool, reconcile: bool | None, began: datetime) -> None:
    state = index_state()
    if full or not state.ready:
        report.kind = "full_load"
        _full_load(lease, report)
    else:
        report.kind = "incremental"
        _incremental(lease, report)
        # Asked for again while this pass ran (an import finished meanwhile): go round once more.
        for _ in range(MAX_EXTRA_ROUNDS):
            requested = SearchIndexState.objects.filter(pk=1).values_list("sync_requested_at", flat=True).first()
            if requested is None or requested < began:
                break
            began = timezone.now()
            report.rounds += 1
            _incremental(lease, report)
    if reconcile or (reconcile is None and report.kind == "incremental" and _reconcile_due()):
        _reconcile(lease, report)


def _reconcile_due() -> bool:
    last = index_state().last_reconcile_at
    hours = float(settings.SEARCH_RECONCILE_HOURS)
    return last is None or timezone.now() - last >= timedelta(hours=hours)


# Exports ---------------------------------------------------------------------------------------------


def _wait_until_written(lease: Lease, export_id: str):
    for attempt in range(MAX_LOOKS):
        export = export_get(export_id=export_id)
        if export.is_done and export.url:
            return export
        if export.failed:
            raise VoucherifyError("Voucherify could not write the export file", details=f"export {export_id}")
        _nap(lease, POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)])
    raise VoucherifyError("Voucherify took too long to write the export file", details=f"export {export_id}")


def _nap(lease: Lease, seconds: float) -> None:
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        lease.renew()


def _export_rows(url: str) -> Iterator[dict[str, str]]:
    """The export's rows as dicts keyed by the fields asked for (Voucherify's header row)."""
    yield from csv.DictReader(export_download(url=url))


def _batches(items: Iterable, size: int = BATCH_SIZE) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _forget_upstream(export_id: str) -> None:
    """Removes the export from Voucherify once read (one call; a failure is harmless)."""
    with contextlib.suppress(VoucherifyError):
        export_delete(export_id=export_id)


def _next_sweep_run() -> int:
    SearchIndexState.objects.filter(pk=1).update(sweep_run=F("sweep_run") + 1)
    return index_state().sweep_run


# Full load -------------------------------------------------------------------------------------------


def _full_load(lease: Lease, report: PassReport) -> None:
    state = index_state()
    export_id = state.load_export_id
    if export_id:
        try:
            export_get(export_id=export_id)
            report.steps.append(f"resumed export {export_id}")
        except NotFound:
            export_id = ""
    if not export_id or state.full_load_started_at is None:
        # Rows the dashboard writes from now on are newer than the export: the sweep keeps them.
        asked_at = timezone.now()
        export_id = export_create(fields=LOAD_FIELDS).id
        SearchIndexState.objects.filter(pk=1).update(load_export_id=export_id, full_load_started_at=asked_at,
                                                     sweep_run=F("sweep_run") + 1)  # fmt: skip
        state = index_state()
    run, asked_at = state.sweep_run, state.full_load_started_at
    export = _wait_until_written(lease, export_id)
    newest: datetime | None = None
    at_newest: set[str] = set()
    rows = (row for row in map(Row.from_export, _export_rows(export.url)) if row is not None)
    for batch in _batches(rows):
        lease.renew()
        report.upserted += index.upsert(batch, seen=run)
        for row in batch:
            stamp = row.updated_at or row.created_at  # as the incremental pass reads it (see _stamp)
            if stamp is None:
                continue
            if newest is None or stamp > newest:
                newest, at_newest = stamp, {row.customer_id}
            elif stamp == newest:
                at_newest.add(row.customer_id)
    lease.renew(force=True)
    report.removed += index.sweep(seen=run, written_before=asked_at)
    engine.optimize()
    finished = timezone.now()
    SearchIndexState.objects.filter(pk=1).update(
        ready=True, watermark=newest, watermark_ids=sorted(at_newest), full_load_finished_at=finished,
        last_reconcile_at=finished, load_export_id="",
    )  # fmt: skip
    _forget_upstream(export_id)


# Incremental pass ------------------------------------------------------------------------------------


def _incremental(lease: Lease, report: PassReport) -> None:
    state = index_state()
    watermark: datetime | None = state.watermark
    at_watermark: set[str] = set(state.watermark_ids or [])
    anchor = watermark  # the watermark the request's lower bound was built from
    page = 1
    while True:
        after = anchor - ONE_MS if anchor is not None else None
        found = customer_list(updated_at_after=after, order="updated_at", limit=PAGE_SIZE, page=page)
        report.pages += 1
        lease.renew()
        # Skipped: only a customer already seen with exactly this timestamp (one updated since is read again).
        seen_at = watermark
        fresh = [c for c in found.customers if not (c.id in at_watermark and _stamp(c) == seen_at)]
        if fresh:
            report.upserted += index.upsert([Row.from_customer(customer) for customer in fresh])
        for customer in found.customers:
            stamp = _stamp(customer)
            if stamp is None:
                continue
            if watermark is None or stamp > watermark:
                watermark, at_watermark = stamp, {customer.id}
            elif stamp == watermark:
                at_watermark.add(customer.id)
        SearchIndexState.objects.filter(pk=1).update(watermark=watermark, watermark_ids=sorted(at_watermark))
        if not found.has_more or not found.customers:
            return
        if watermark != anchor:
            anchor, page = watermark, 1  # ask again from the new watermark, skipping the ids seen at it
        elif page < MAX_PAGE:
            page += 1  # a whole page in one millisecond: go on by page number
        else:
            # More customers share one millisecond than 99 pages hold: step past it rather than loop.
            logger.warning("search index: more than %d customers updated at %s", PAGE_SIZE * MAX_PAGE, watermark)
            anchor, page, at_watermark = watermark + ONE_MS, 1, set()


def _stamp(customer) -> datetime | None:
    return customer.updated_at or customer.created_at


# Reconciliation --------------------------------------------------------------------------------------


def _reconcile(lease: Lease, report: PassReport) -> None:
    asked_at = timezone.now()
    run = _next_sweep_run()
    export_id = export_create(fields=["id"]).id
    try:
        export = _wait_until_written(lease, export_id)
        ids = (cells.get("id") for cells in _export_rows(export.url))
        held = 0
        for batch in _batches(customer_id for customer_id in ids if customer_id):
            lease.renew()
            held += index.mark_seen(batch, seen=run)
        lease.renew(force=True)
        removed = index.sweep(seen=run, written_before=asked_at)
        engine.optimize()
    finally:
        _forget_upstream(export_id)
    report.removed += removed
    report.reconciled = True
    report.steps.append(f"reconciled: {held} held, {removed} removed")
    SearchIndexState.objects.filter(pk=1).update(last_reconcile_at=timezone.now())
