"""CSV exports of every customer matching the list's filters, run as background jobs.

Voucherify's Exports API does the heavy lifting: one call asks for the file, a few see it finish, one
downloads it, however many customers it holds (walking the list costs one call per 100 customers).
Where a filter cannot be said as an export condition (the segment), the job walks the list instead,
at the pace the API budget allows. Either way the file is rewritten on its way into the dashboard's
storage: the dashboard's column names, UTF-8 with a byte-order mark, formula-like cells defused.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from . import storage
from .background import JobRun, request_cancel, start_job
from .models import BackgroundJob
from .services.customers import customer_list
from .services.exports import export_create, export_delete, export_download, export_get
from .services.voucherify import VoucherifyError
from .spreadsheet import CsvChunks, neutralise
from .types import Customer, CustomerPage, format_api_datetime

PAGE_SIZE = 100
# The dashboard's export columns and the Voucherify export field behind each.
COLUMN_FIELDS = {
    "Id": "id",
    "Source_id": "source_id",
    "Name": "name",
    "Email": "email",
    "Phone": "phone",
    "Birthdate": "birthdate",
    "Description": "description",
    "Address_line_1": "address_line_1",
    "Address_line_2": "address_line_2",
    "Address_Postal_Code": "address_postal_code",
    "Address_City": "address_city",
    "Address_State": "address_state",
    "Address_Country": "address_country",
    "Metadata": "metadata",
    "Created_at": "created_at",
    "Updated_at": "updated_at",
}
# Seconds between looks at a running export: quick at first, then sparing with the budget.
POLL_DELAYS = (1, 2, 3, 5, 8, 13, 20, 30)
ROWS_PER_STEP = 5000
NEWEST_FIRST = "-created_at"


# Walking the list (the fallback, and bulk updates) -----------------------------------------------


def customer_pages(*, filters: dict, first: CustomerPage | None = None) -> Iterator[CustomerPage]:
    """Every page of customers matching ``filters``, newest first, by the ``created_at`` cursor.

    The cursor keeps working past page 99. Rows sharing the last row's millisecond are fetched
    again with a cursor 1 ms later and skipped by id, so ties at a page boundary are not lost.
    """
    page = first or customer_list(**filters, limit=PAGE_SIZE)
    skip: set[str] = set()
    previous_stamp = None
    while True:
        fresh = [c for c in page.customers if c.id not in skip]
        if fresh:
            yield CustomerPage(customers=fresh, total=page.total, has_more=page.has_more)
        last = page.customers[-1] if page.customers else None
        if not page.has_more or last is None or last.created_at is None:
            return
        stamp = format_api_datetime(last.created_at)
        at_stamp = {c.id for c in page.customers if c.created_at and format_api_datetime(c.created_at) == stamp}
        if stamp == previous_stamp:
            at_stamp |= skip
        if fresh:
            cursor, skip = format_api_datetime(last.created_at + timedelta(milliseconds=1)), at_stamp
        else:
            # More rows share one millisecond than fit a page: step past it rather than loop.
            cursor, skip = stamp, set()
        previous_stamp = stamp
        page = customer_list(**filters, limit=PAGE_SIZE, starting_after=cursor)


def customers_matching(*, filters: dict, cap: int | None = None) -> Iterator[Customer]:
    count = 0
    for page in customer_pages(filters=filters):
        for customer in page.customers:
            if cap is not None and count >= cap:
                return
            yield customer
            count += 1


def customer_cell(customer: Customer, column: str) -> str:
    """One cell of the export for a customer read from the list."""
    address = customer.address
    values = {
        "Id": customer.id,
        "Source_id": customer.source_id,
        "Name": customer.name,
        "Email": customer.email,
        "Phone": customer.phone,
        "Birthdate": customer.birthdate.isoformat() if customer.birthdate else "",
        "Description": customer.description,
        "Address_line_1": address.line_1 if address else "",
        "Address_line_2": address.line_2 if address else "",
        "Address_Postal_Code": address.postal_code if address else "",
        "Address_City": address.city if address else "",
        "Address_State": address.state if address else "",
        "Address_Country": address.country if address else "",
        "Metadata": json.dumps(customer.metadata, ensure_ascii=False, sort_keys=True) if customer.metadata else "",
        "Created_at": customer.raw.get("created_at") or "",
        "Updated_at": customer.raw.get("updated_at") or "",
    }
    value = values[column]
    return neutralise(str(value)) if value else ""


# Filters as export conditions --------------------------------------------------------------------


def export_conditions(filters: dict[str, Any]) -> dict[str, Any] | None:
    """The list's filters as Voucherify export conditions, or None when one cannot be said there.

    The list matches email and city whole but ignoring case, and name as a part: ``$is`` and
    ``$contains`` do the same in an export. Dates are exclusive bounds in both.
    """
    if filters.get("segment_id"):
        return None
    conditions: dict[str, Any] = {}
    if filters.get("email"):
        conditions["email"] = {"conditions": {"$is": [filters["email"]]}}
    if filters.get("city"):
        conditions["address.city"] = {"conditions": {"$is": [filters["city"]]}}
    if filters.get("name"):
        conditions["name"] = {"conditions": {"$contains": [filters["name"]]}}
    for field in ("created_at", "updated_at"):
        bounds = {}
        if filters.get(f"{field}_before"):
            bounds["$before"] = [_iso(filters[f"{field}_before"])]
        if filters.get(f"{field}_after"):
            bounds["$after"] = [_iso(filters[f"{field}_after"])]
        if bounds:
            conditions[field] = {"conditions": bounds}
    return {"junction": "and", **conditions} if conditions else {}


def _iso(value: Any) -> str:
    return format_api_datetime(value) if isinstance(value, date | datetime) else str(value)


def stored_filters(filters: dict[str, Any]) -> dict[str, str]:
    """Filters as the job keeps them (JSON): dates as API strings, empty ones left out."""
    return {name: _iso(value) for name, value in filters.items() if value not in (None, "")}


# Cost ----------------------------------------------------------------------------------------------


def export_cost(*, total: int, filters: dict[str, Any]) -> int:
    """About how many Voucherify calls the export will take."""
    if export_conditions(filters) is None:
        return math.ceil(total / PAGE_SIZE) + 1
    # create, a few looks while Voucherify writes the file (longer for big files), download, delete
    looks = 2 + min(len(POLL_DELAYS), total // 50_000)
    return 3 + looks


# The job ---------------------------------------------------------------------------------------


def start_export(*, user, filters: dict[str, Any], columns: list[str], total: int) -> BackgroundJob:
    """Queues an export of every customer matching ``filters`` with ``columns`` (dashboard names)."""
    kept = stored_filters(filters)
    how = "Voucherify's Exports API" if export_conditions(kept) is not None else "a walk of the list"
    return start_job(
        kind=BackgroundJob.Kind.EXPORT,
        user=user,
        description=f"Export of {total:,} customer{'s' if total != 1 else ''} ({len(columns)} columns) via {how}",
        params={"filters": kept, "columns": columns},
        calls_estimate=export_cost(total=total, filters=kept),
        total=total,
    )


def run_export(run: JobRun) -> str:
    """Writes the export into the dashboard's storage; resumes an upstream export after a restart."""
    params = run.job.params
    filters, columns = params["filters"], params["columns"]
    conditions = export_conditions(filters)
    if conditions is None:
        rows = _rows_walking_the_list(run, filters, columns)
    else:
        rows = _rows_from_exports_api(run, conditions, columns)
    counter = [0]
    name, size = storage.save_stream(f"exports/{run.job.pk}.csv", _csv(run, columns, rows, counter))
    run.step(file_name=name, file_size=size, done=counter[0], total=counter[0])
    export_id = run.job.checkpoint.get("export_id")
    if export_id:
        _forget_upstream(export_id)
    return f"{counter[0]:,} customer{'s' if counter[0] != 1 else ''} exported."


def _csv(run: JobRun, columns: list[str], rows: Iterable[list[str]], counter: list[int]) -> Iterator[str]:
    writer = CsvChunks()
    writer.writerow(columns)
    yield "\ufeff" + writer.take()
    for row in rows:
        writer.writerow(row)
        counter[0] += 1
        if counter[0] % ROWS_PER_STEP == 0:
            run.step(done=counter[0])
            yield writer.take()
    yield writer.take()


def _rows_walking_the_list(run: JobRun, filters: dict, columns: list[str]) -> Iterator[list[str]]:
    for page in customer_pages(filters=filters):
        run.step()
        for customer in page.customers:
            yield [customer_cell(customer, column) for column in columns]


def _rows_from_exports_api(run: JobRun, conditions: dict, columns: list[str]) -> Iterator[list[str]]:
    export_id = run.job.checkpoint.get("export_id")
    if export_id is None:
        fields = [COLUMN_FIELDS[column] for column in columns]
        export = export_create(fields=fields, filters=conditions, order=NEWEST_FIRST)
        export_id = export.id
        run.step(checkpoint={**run.job.checkpoint, "export_id": export_id})
    export = _wait_until_written(run, export_id)
    lines = export_download(url=export.url)
    reader = csv.reader(lines)
    next(reader, None)  # Voucherify's header: the field names, in the order asked
    for cells in reader:
        yield [neutralise(cell) for cell in cells]


def _wait_until_written(run: JobRun, export_id: str):
    for attempt in range(10_000):
        export = export_get(export_id=export_id)
        if export.is_done and export.url:
            return export
        if export.failed:
            raise VoucherifyError("Voucherify could not write the export file", details=f"export {export_id}")
        _nap(run, POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)])
    raise VoucherifyError("Voucherify took too long to write the export file", details=f"export {export_id}")


def _nap(run: JobRun, seconds: float) -> None:
    """Sleeps between looks, a second at a time, still answering Cancel and renewing the lease."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        run.step()


def _forget_upstream(export_id: str) -> None:
    """Removes the export from Voucherify once the dashboard holds the file (one call; failure is harmless)."""
    with contextlib.suppress(VoucherifyError):
        export_delete(export_id=export_id)


def _on_cancel(run: JobRun) -> None:
    """A cancelled export leaves no file behind, here or at Voucherify."""
    export_id = run.job.checkpoint.get("export_id")
    if export_id:
        _forget_upstream(export_id)
    if run.job.file_name:
        storage.delete(run.job.file_name)
        BackgroundJob.objects.filter(pk=run.job.pk).update(file_name="", file_size=None)


run_export.on_cancel = _on_cancel


# Files -----------------------------------------------------------------------------------------


def purge_expired_exports() -> int:
    """Deletes export files older than ``EXPORT_KEEP_DAYS``, and access request packs older than
    ``PRIVACY_FILE_DAYS``; returns how many export files."""
    # Imported here: the pack module builds on the erasure, which builds on this module.
    from .privacy_pack import purge_expired_packs

    purge_expired_packs()
    cutoff = timezone.now() - timedelta(days=settings.EXPORT_KEEP_DAYS)
    expired = BackgroundJob.objects.filter(kind=BackgroundJob.Kind.EXPORT, created_at__lt=cutoff).exclude(file_name="")
    count = 0
    for job in expired:
        storage.delete(job.file_name)
        job.file_name, job.message = "", f"{job.message} The file was deleted after {settings.EXPORT_KEEP_DAYS} days."
        job.save(update_fields=["file_name", "message"])
        count += 1
    return count


def purge_jobs_mentioning(values: Iterable[str]) -> int:
    """After an erasure: deletes every kept export file that mentions any of ``values`` (the person's
    email, ids, source ids) and blanks those values in every job's parameters; returns files deleted."""
    values = [v for v in values if v]
    folded = [v.casefold() for v in values]
    for job in BackgroundJob.objects.all():
        text = json.dumps(job.params, ensure_ascii=False).casefold()
        if any(value in text for value in folded):
            if not job.is_finished:  # it would go on using the erased values (or "(erased)" in their place)
                request_cancel(job)
            job.params = _blank(job.params, folded)
            job.save(update_fields=["params"])
    count = 0
    for job in BackgroundJob.objects.filter(kind=BackgroundJob.Kind.EXPORT).exclude(file_name=""):
        if storage.contains_any(job.file_name, values):
            storage.delete(job.file_name)
            job.file_name = ""
            job.message = f"{job.message} The file was deleted: it held a person who has since been erased."
            job.save(update_fields=["file_name", "message"])
            count += 1
    return count


def _blank(value: Any, folded: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _blank(item, folded) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank(item, folded) for item in value]
    if isinstance(value, str) and any(needle in value.casefold() for needle in folded):
        return "(erased)"
    return value
