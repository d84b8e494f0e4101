"""Jobs started from the dashboard: the single call per write that starts them upstream, the record
kept of who started what, the refresh from the async action and the rejected-rows file.

Each ``*_start`` function makes exactly one upstream call, so guards and auditing can wrap it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone

from .csv_import import sent_files_live, sent_store
from .models import ImportFile, Job
from .search.tasks import sync_soon
from .services.async_actions import async_action_get
from .services.customers import customers_bulk_update, customers_import_csv, customers_metadata_update
from .spreadsheet import CsvChunks, neutralise
from .types import AsyncAction


def _record(*, user, async_action_id: str, kind: str, **fields: Any) -> Job:
    return Job.objects.create(
        async_action_id=async_action_id,
        kind=kind,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        created_by_name=user.get_username() if getattr(user, "is_authenticated", False) else "",
        status="ENQUEUED",
        **fields,
    )


def import_start(*, user, file_name: str, content: bytes, row_count: int) -> Job:
    """Sends the clean CSV to Voucherify's importCSV and records the job with the file sent, which
    is kept in the database for the rejected-rows download.

    Raises the service layer's VoucherifyError subclasses (nothing is recorded then).
    """
    async_action_id = customers_import_csv(file_name=file_name, content=content)
    with transaction.atomic():
        sent = sent_store(owner=user, file_name=file_name, content=content)
        return _record(
            user=user,
            async_action_id=async_action_id,
            kind=Job.Kind.IMPORT,
            description=f"Import of {row_count} row{'s' if row_count != 1 else ''} from {file_name}",
            file_name=file_name,
            row_count=row_count,
            sent_import_file=sent,
        )


def bulk_update_start(*, user, updates: list[dict[str, Any]], description: str) -> Job:
    """Queues field updates (each with a source id just read from Voucherify) and records the job."""
    async_action_id = customers_bulk_update(updates=updates)
    return _record(
        user=user,
        async_action_id=async_action_id,
        kind=Job.Kind.BULK_UPDATE,
        description=description,
        row_count=len(updates),
    )


def metadata_update_start(*, user, source_ids: list[str], metadata: dict[str, Any], description: str) -> Job:
    """Queues one metadata change for customers (source ids just read from Voucherify) and records it."""
    async_action_id = customers_metadata_update(source_ids=source_ids, metadata=metadata)
    return _record(
        user=user,
        async_action_id=async_action_id,
        kind=Job.Kind.METADATA_UPDATE,
        description=description,
        row_count=len(source_ids),
    )


def job_refresh(*, job: Job | None, async_action_id: str) -> AsyncAction:
    """The async action as Voucherify reports it now; the job record keeps its last status.

    Raises NotFound, Unavailable, RateLimited or AuthError.
    """
    action = async_action_get(async_action_id=async_action_id)
    if job is not None and action.status and action.status != job.status:
        job.status = action.status
        if action.is_finished and job.finished_at is None:
            job.finished_at = action.updated_at or timezone.now()
            sync_soon()  # its changes reach the search index now rather than at the next scheduled pass
        job.save(update_fields=["status", "finished_at"])
    return action


def failed_rows(action: AsyncAction) -> list[dict[str, Any]]:
    """Per-row failures in one shape: import ``failed`` or bulk/metadata ``errors``."""
    result = action.result or {}
    rows = []
    for item in result.get("failed") or []:
        if isinstance(item, dict):
            rows.append(
                {"row": item.get("row"), "source_id": item.get("source_id") or "", "reason": item.get("reason") or ""}
            )
    for item in result.get("errors") or []:
        if isinstance(item, dict):
            reason = ": ".join(part for part in (item.get("message"), item.get("details")) if part)
            rows.append({"row": None, "source_id": item.get("source_id") or "", "reason": reason})
    return rows


def _sent_file(job: Job):
    if not job.sent_import_file_id:
        return ImportFile.objects.none()
    return sent_files_live().filter(pk=job.sent_import_file_id)


def sent_file_exists(job: Job) -> bool:
    """Whether the file sent for the job is still kept (7 days, unless a person in it was erased)."""
    return _sent_file(job).exists()


def sent_file_content(job: Job) -> bytes | None:
    """The clean file sent to Voucherify for the job, or None once it is gone."""
    value = _sent_file(job).values_list("content", flat=True).first()
    if value is None:
        return None
    return value if isinstance(value, bytes) else bytes(value)


def rejected_rows_csv(*, job: Job, failures: list[dict[str, Any]]) -> Iterator[str]:
    """The sent file's header and the rows Voucherify rejected, each with a ``reason`` column.

    Voucherify's ``row`` counts data rows of the file it received (not the header), which is the
    clean file kept for the job, so the rows can be picked out by number while streaming it.
    """
    reasons: dict[int, str] = {}
    for failure in failures:
        if isinstance(failure.get("row"), int):
            reasons[failure["row"]] = failure["reason"]
    content = sent_file_content(job)
    writer = CsvChunks()

    yield "\ufeff"
    if content is None:
        writer.writerow(["row", "source_id", "reason"])
        for failure in failures:
            writer.writerow([failure.get("row") or "", neutralise(failure["source_id"]), neutralise(failure["reason"])])
        yield writer.take()
        return
    with io.TextIOWrapper(io.BytesIO(content), encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        writer.writerow([*header, "reason"])
        yield writer.take()
        for number, cells in enumerate(reader, start=1):
            if number in reasons:
                writer.writerow([neutralise(cell) for cell in (*cells, reasons[number])])
                yield writer.take()
