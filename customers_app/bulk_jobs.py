"""Bulk updates of every customer matching the list's filters, run as background jobs.

The job walks the list (100 customers a call, by the ``created_at`` cursor), leaves out customers
without a source id and anyone matching an erased person, and sends the rest in chunks of
``CHUNK_SIZE`` to ``bulk/async`` (fields) and ``metadata/async`` (metadata). Every async action is a
step of the job's report and a ``Job`` record (so the Voucherify jobs pages know it), and is looked
at until Voucherify has run it, to fill in what was done and what failed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from .audit import Action, audited
from .background import JobRun, start_job
from .erasure import guard_check_rows, guard_record
from .export_jobs import PAGE_SIZE, customer_pages, stored_filters
from .import_forms import BULK_FIELDS
from .jobs import bulk_update_start, job_refresh, metadata_update_start
from .models import BackgroundJob, Job
from .services.customers import customer_list
from .services.voucherify import NotFound, VoucherifyError
from .types import Customer, CustomerPage, format_api_datetime

# Customers per bulk/async or metadata/async call: a few hundred kB of JSON, far below the 10 MB
# limit, and few enough calls that a 100,000-customer update sends 100 (or 200) of them.
CHUNK_SIZE = 1000
# Seconds between looks at an async action that has not finished: quick at first, then sparing.
POLL_DELAYS = (1, 2, 4, 8, 15, 30)
MAX_LOOKS = 300  # about two and a half hours at the longest delay
# Looks an async action takes on average, for the estimate: usually it has run by the first look.
LOOKS_PER_ACTION = 2
# Async actions sent and not yet seen finished before the job waits for the oldest: Voucherify runs
# them one after another, and a job should not fill its queue ahead of everyone else's imports.
MAX_PENDING = 3

FIELDS, METADATA = "fields", "metadata"
FINISHED = ("DONE", "FAILED", "NOT_FOUND")


# What to send ------------------------------------------------------------------------------------


def update_body(source_id: str, changes: dict[str, str]) -> dict[str, Any]:
    """One customer's entry of a ``bulk/async`` call: its source id and the fields to set."""
    body: dict[str, Any] = {"source_id": source_id}
    for name, value in changes.items():
        if name.startswith("address_"):
            body.setdefault("address", {})[name.removeprefix("address_")] = value
        else:
            body[name] = value
    return body


def update_kinds(changes: dict, metadata: dict) -> list[str]:
    """Which calls each chunk takes: ``bulk/async`` for fields, ``metadata/async`` for metadata."""
    return [kind for kind, wanted in ((FIELDS, changes), (METADATA, metadata)) if wanted]


def what_is_set(changes: dict[str, str], metadata: dict[str, str]) -> str:
    """What a job sets, in words: "Set city, phone and metadata tier"."""
    parts = [BULK_FIELDS[name].lower() for name in changes]
    if metadata:
        parts.append(f"metadata {', '.join(metadata)}")
    return "Set " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


# Cost ----------------------------------------------------------------------------------------------


def bulk_update_cost(*, total: int, kinds: int = 1, chunk_size: int | None = None) -> int:
    """About how many Voucherify calls updating ``total`` customers takes: the reads of the list
    (100 a call), and for every chunk one send per kind and a couple of looks at each action."""
    chunks = math.ceil(total / (chunk_size or CHUNK_SIZE))
    reads = max(1, math.ceil(total / PAGE_SIZE))
    return reads + chunks * kinds * (1 + LOOKS_PER_ACTION)


# Starting ------------------------------------------------------------------------------------------


def start_bulk_update(*, user, filters: dict[str, Any], changes: dict[str, str], metadata: dict[str, str],
                      total: int, check_email: bool = True) -> BackgroundJob:  # fmt: skip
    """Queues an update of every customer matching ``filters``: ``changes`` (bulk form field names)
    and ``metadata`` (keys kept, these set). ``check_email``: false when an administrator overrode
    the erasure guard for the email being set; erased source ids are always left out."""
    kept = stored_filters(filters)
    params = {
        "filters": kept,
        "changes": changes,
        "metadata": metadata,
        "chunk_size": CHUNK_SIZE,
        "check_email": check_email,
    }
    kinds = len(update_kinds(changes, metadata))
    return start_job(
        kind=BackgroundJob.Kind.BULK_UPDATE,
        user=user,
        description=f"{what_is_set(changes, metadata)} on every matching customer ({total:,} when started)"[:500],
        params=params,
        calls_estimate=bulk_update_cost(total=total, kinds=kinds, chunk_size=CHUNK_SIZE),
        total=total,
    )


# The job ---------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Where the walk is, kept in the checkpoint after every chunk sent (so a resumed job carries on)."""

    read: int = 0  # customers read from the list
    sent: int = 0  # customers sent (once per chunk, whatever the number of kinds)
    chunks: int = 0
    no_source_id: int = 0
    erased: int = 0
    cursor: str | None = None  # the list's starting_after for the next customer
    stamp: str | None = None  # created_at of the last customer handled
    at_stamp: list[str] = field(default_factory=list)  # ids handled sharing that created_at

    def handled(self, customer: Customer) -> None:
        self.read += 1
        if customer.created_at is None:
            return
        stamp = format_api_datetime(customer.created_at)
        if stamp != self.stamp:
            self.stamp, self.at_stamp = stamp, []
            # 1 ms later: rows sharing this millisecond come again, and those handled are skipped by id.
            self.cursor = format_api_datetime(customer.created_at + timedelta(milliseconds=1))
        self.at_stamp.append(customer.id)


@dataclass
class Chunk:
    first: int  # position (1-based) in the list of the first customer read for it
    found: int = 0
    source_ids: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"Customers {self.first:,}–{self.first + self.found - 1:,}"


def run_bulk_update(run: JobRun) -> str:
    """Sends the updates chunk by chunk, then waits for Voucherify to run them; resumes from the checkpoint."""
    params = run.job.params
    filters, changes, metadata = params["filters"], params["changes"], params["metadata"]
    chunk_size = params.get("chunk_size") or CHUNK_SIZE
    email = changes.get("email") if params.get("check_email", True) else None
    kinds = update_kinds(changes, metadata)
    saved = run.job.checkpoint.get("progress")
    progress = Progress(**saved) if saved else Progress()
    report = list(run.job.report)
    pending = [step for step in report if step.get("status") not in FINISHED]
    chunk = Chunk(first=progress.read + 1)

    def send() -> None:
        nonlocal chunk
        run.step(done=progress.read)  # Cancel takes effect here, between two chunks
        while len(pending) >= MAX_PENDING:
            _settle(run, pending.pop(0), report)
        steps = _send_chunk(run, chunk, kinds=kinds, changes=changes, metadata=metadata)
        report.extend(steps)
        pending.extend(steps)
        progress.sent += len(chunk.source_ids)
        progress.chunks += 1
        run.step(done=progress.read, report=report, checkpoint={"progress": asdict(progress)})
        chunk = Chunk(first=progress.read + 1)

    for page in _pages(filters, progress):
        rows = ({"source_id": c.source_id or "", "email": email} for c in page.customers)
        hits = {hit.row: hit for hit in guard_check_rows(rows)}
        erased = [hits[n] for n, c in enumerate(page.customers, start=1) if c.source_id and n in hits]
        if erased:
            # Left out, never sent: an upsert by source id would bring the person back.
            guard_record(actor=run.job.created_by, person=erased[0].person, target=f"bulk update {run.job.pk}",
                         rows=len(erased))  # fmt: skip
        for number, customer in enumerate(page.customers, start=1):
            progress.handled(customer)
            chunk.found += 1
            if not customer.source_id:
                progress.no_source_id += 1
            elif number in hits:
                progress.erased += 1
            else:
                chunk.source_ids.append(customer.source_id)
            if len(chunk.source_ids) >= chunk_size:
                send()
        run.step(done=progress.read)
    if chunk.source_ids:
        send()
    for step in list(pending):
        _settle(run, step, report)
    run.step(done=progress.read, total=progress.read, report=report, checkpoint={"progress": asdict(progress)})
    return _outcome(progress, report)


def _pages(filters: dict, progress: Progress) -> Iterator[CustomerPage]:
    """The list's pages from where the walk is: the start, or the checkpoint's cursor after a restart."""
    first = None
    if progress.cursor:
        first = customer_list(**filters, limit=PAGE_SIZE, starting_after=progress.cursor)
    skip = set(progress.at_stamp) if progress.cursor else set()
    for page in customer_pages(filters=filters, first=first):
        customers = [c for c in page.customers if c.id not in skip]
        if customers:
            yield CustomerPage(customers=customers, total=page.total, has_more=page.has_more)


def _send_chunk(run: JobRun, chunk: Chunk, *, kinds: list[str], changes: dict, metadata: dict) -> list[dict]:
    """One call per kind for the chunk, each audited and recorded as a Job; returns the report's steps."""
    user = run.job.created_by
    count = len(chunk.source_ids)
    steps = []
    for kind in kinds:
        if kind == FIELDS:
            description = f"{what_is_set(changes, {})} on {chunk.label.lower()} of a bulk update of every match"
            audit_changes = {"customers": count, "fields": changes, "background_job": str(run.job.pk)}
        else:
            description = f"{what_is_set({}, metadata)} on {chunk.label.lower()} of a bulk update of every match"
            audit_changes = {"customers": count, "metadata": metadata, "background_job": str(run.job.pk)}
        with audited(actor=user, action=Action.BULK_UPDATE, target_label=description, changes=audit_changes) as audit:
            if kind == FIELDS:
                updates = [update_body(source_id, changes) for source_id in chunk.source_ids]
                record = bulk_update_start(user=user, updates=updates, description=description)
            else:
                record = metadata_update_start(
                    user=user, source_ids=chunk.source_ids, metadata=metadata, description=description
                )
            audit.target_id = record.async_action_id
        label = chunk.label if len(kinds) == 1 else f"{chunk.label}: {kind}"
        steps.append(
            {
                "label": label,
                "kind": kind,
                "sent": count,
                "found": chunk.found,
                "failed": None,  # filled in once Voucherify has run it
                "updated": None,
                "status": record.status or "ENQUEUED",
                "async_action_id": record.async_action_id,
            }
        )
    return steps


def _settle(run: JobRun, step: dict, report: list[dict]) -> None:
    """Looks at a step's async action until Voucherify has run it (waits growing), then fills in its counts."""
    record = Job.objects.filter(async_action_id=step["async_action_id"]).first()
    for attempt in range(MAX_LOOKS):
        try:
            action = job_refresh(job=record, async_action_id=step["async_action_id"])
        except NotFound:
            step.update(status="NOT_FOUND")
            break
        if action.is_finished:
            result = action.result or {}
            failed = result.get("failed_count")
            if failed is None:
                failed = step["sent"] if action.status == "FAILED" else len(result.get("errors") or [])
            updated = result.get("done_count")
            if updated is None:
                updated = max(0, step["sent"] - failed)
            step.update(status=action.status, failed=failed, updated=updated)
            break
        step.update(status=action.status or step["status"])
        _nap(run, POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)])
    else:
        raise VoucherifyError(
            "Voucherify took too long to run a bulk update", details=f"async action {step['async_action_id']}"
        )
    run.step(report=report)


def _nap(run: JobRun, seconds: float) -> None:
    """Sleeps between looks, a second at a time, still answering Cancel and renewing the lease."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        run.step()


def _outcome(progress: Progress, report: list[dict]) -> str:
    failed = sum(step.get("failed") or 0 for step in report)
    lost = sum(1 for step in report if step.get("status") == "NOT_FOUND")
    left_out = []
    if progress.no_source_id:
        left_out.append(f"{progress.no_source_id:,} without a source id")
    if progress.erased:
        left_out.append(f"{progress.erased:,} matching an erased person")
    text = (
        f"Sent {progress.sent:,} of {progress.read:,} matching customer{_s(progress.read)} "
        f"in {progress.chunks:,} chunk{_s(progress.chunks)} "
        f"({len(report):,} Voucherify job{_s(len(report))}, {failed:,} update{_s(failed)} failed)."
    )
    if left_out:
        text += f" Left out: {' and '.join(left_out)}."
    if lost:
        text += f" {lost} Voucherify job{_s(lost)} could not be found to read the result."
    return text


def _s(count: int) -> str:
    return "" if count == 1 else "s"
