"""Async actions: CSV import, bulk update and metadata update of customers, run on a background thread.

An action whose process died is recovered (``recover``): one that never started runs here, one that
was part-way is marked FAILED with the reason (its items were applied one by one, so which of them
landed is unknown; running them again would record every change twice).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.db import transaction

from sandbox import background
from sandbox.api import ApiError, iso, new_id, now
from sandbox.models import AsyncAction
from sandbox.routers import SANDBOX_DB
from sandbox.services import clean_customer, upsert_customer

logger = logging.getLogger(__name__)

IMPORT_CSV = "CUSTOMERS.IMPORT_CSV"
BULK_UPDATE = "CUSTOMERS.BULK_UPDATE"
METADATA_UPDATE = "CUSTOMERS.METADATA_UPDATE"

# Like Voucherify's queue, actions run one after another (per process).
_queue = threading.Lock()

CSV_COLUMNS = {
    "id": ("id",),
    "name": ("name",),
    "email": ("email",),
    "phone": ("phone",),
    "birthdate": ("birthdate",),
    "source_id": ("source_id",),
    "address_line_1": ("address", "line_1"),
    "address_line_2": ("address", "line_2"),
    "address_postal_code": ("address", "postal_code"),
    "address_city": ("address", "city"),
    "address_state": ("address", "state"),
    "address_country": ("address", "country"),
    "description": ("description",),
}


def enqueue(action_type: str, payload: dict, request_id: str) -> AsyncAction:
    """Records an ENQUEUED action and starts its thread once the surrounding transaction commits."""
    moment = now()
    action = AsyncAction.objects.create(
        id=new_id("aa_"),
        type=action_type,
        payload=payload,
        request_id=request_id,
        runner=background.runner_id(),
        heartbeat_at=moment,
        created_at=moment,
        updated_at=moment,
    )
    transaction.on_commit(lambda: background.start_thread(_run, action.id), using=SANDBOX_DB)
    return action


def _run(action_id: str) -> None:
    with _queue:
        _process(AsyncAction.objects.get(id=action_id))


def recover(action: AsyncAction) -> AsyncAction:
    """Finishes what a dead process left: ENQUEUED runs here, IN_PROGRESS becomes FAILED with a reason."""
    if action.status not in (AsyncAction.ENQUEUED, AsyncAction.IN_PROGRESS):
        return action
    if not background.is_orphan(action, now()) or not background.claim(AsyncAction, action.id, action.runner):
        return action
    if action.status == AsyncAction.ENQUEUED:
        logger.info("async action %s was queued in a stopped process; running it here", action.id)
        background.start_thread(_run, action.id)
    else:
        logger.warning("async action %s was interrupted by a restart; marking it failed", action.id)
        details = (
            f"The sandbox stopped while this action was running ({action.progress}% done). Items before "
            "that point were applied; send the action again to finish (updates by source_id are safe to repeat)."
        )
        AsyncAction.objects.filter(id=action.id).update(
            status=AsyncAction.FAILED,
            operation_status="FAILED",
            result={"errors": [{"message": "Interrupted by a restart", "details": details, "key": "interrupted"}]},
            updated_at=now(),
        )
    return AsyncAction.objects.get(id=action.id)


def recover_orphans() -> None:
    for action in AsyncAction.objects.filter(status__in=(AsyncAction.ENQUEUED, AsyncAction.IN_PROGRESS)):
        recover(action)


def _process(action: AsyncAction) -> None:
    started = time.monotonic()
    heartbeat = background.Heartbeat(AsyncAction, action.id)
    heartbeat.beat(status=AsyncAction.IN_PROGRESS)
    try:
        result = HANDLERS[action.type](action, heartbeat)
        status, operation_status = AsyncAction.DONE, "SUCCESS"
    except Exception as error:
        logger.exception("async action %s failed", action.id)
        result = {
            "errors": [{"message": "Processing failed", "details": str(error), "key": "internal_error"}]
        }
        status, operation_status = AsyncAction.FAILED, "FAILED"
    AsyncAction.objects.filter(id=action.id).update(
        status=status,
        operation_status=operation_status,
        progress=100,
        processing_time=int((time.monotonic() - started) * 1000),
        result=result,
        updated_at=now(),
    )


def _each(heartbeat: background.Heartbeat, items: list, handle) -> None:
    """Calls ``handle(item)`` per item in its own transaction, updating ``progress`` as it goes."""
    step = max(1, len(items) // 20)
    for index, item in enumerate(items, start=1):
        handle(item)
        if index % step == 0 or index == len(items):
            heartbeat.beat(progress=min(99, index * 100 // len(items)))
        else:
            heartbeat.beat()


def _upsert(fields: dict, group_id: str, *, merge_metadata: bool) -> None:
    with transaction.atomic(using=SANDBOX_DB):
        upsert_customer(fields, group_id=group_id, merge_metadata=merge_metadata)


def csv_row_to_customer(values: dict[str, str]) -> dict:
    """A CSV row (header → cell) as a customer body: standard columns by name, the rest metadata."""
    body: dict = {}
    for header, cell in values.items():
        if cell is None or cell.strip() == "":
            continue
        target = CSV_COLUMNS.get(header.strip().lower())
        if target is None:
            body.setdefault("metadata", {})[header.strip()] = cell
        elif len(target) == 2:
            body.setdefault("address", {})[target[1]] = cell.strip()
        else:
            body[target[0]] = cell.strip()
    return body


def import_csv(action: AsyncAction, heartbeat: background.Heartbeat) -> dict:
    failed = []

    def handle(row: dict) -> None:
        body = csv_row_to_customer(row["values"])
        source_id = body.get("source_id", "")
        if row.get("error"):
            failed.append({"source_id": source_id, "row": row["row"], "reason": row["error"]})
            return
        try:
            _upsert(clean_customer(body, with_ids=True), action.request_id, merge_metadata=True)
        except ApiError as error:
            failed.append({"source_id": source_id, "row": row["row"], "reason": error.body["details"]})

    rows = action.payload["rows"]
    _each(heartbeat, rows, handle)
    done = len(rows) - len(failed)
    return {
        "message": f"{done} customer(s) imported successfully, {len(failed)} failed.",
        "failed": failed,
        "done_count": done,
        "failed_count": len(failed),
    }


def bulk_update(action: AsyncAction, heartbeat: background.Heartbeat) -> dict:
    errors = []

    def handle(item) -> None:
        source_id = item.get("source_id") if isinstance(item, dict) else None
        try:
            if not isinstance(source_id, str) or not source_id:
                raise ApiError(400, "invalid_customer", "Invalid customer", "source_id is required")
            fields = {**clean_customer(item, with_ids=False), "source_id": source_id}
            _upsert(fields, action.request_id, merge_metadata=False)
        except ApiError as error:
            errors.append(
                {
                    "message": error.body["message"],
                    "details": error.body["details"],
                    "key": error.body["key"],
                    "source_id": source_id if isinstance(source_id, str) else "",
                }
            )

    items = action.payload["customers"]
    _each(heartbeat, items, handle)
    return {
        "done_count": len(items) - len(errors),
        "failed_count": len(errors),
        "reports": [],
        "reports_available_till": iso(now() + timedelta(days=7)),
        "errors": errors,
    }


def metadata_update(action: AsyncAction, heartbeat: background.Heartbeat) -> dict:
    errors = []
    metadata = action.payload["metadata"]

    def handle(source_id) -> None:
        if not isinstance(source_id, str) or not source_id:
            errors.append(
                {
                    "message": "Invalid customer",
                    "details": f"Invalid source_id {source_id!r}",
                    "key": "invalid_customer",
                }
            )
            return
        _upsert({"source_id": source_id, "metadata": metadata}, action.request_id, merge_metadata=True)

    source_ids = action.payload["source_ids"]
    _each(heartbeat, source_ids, handle)
    return {"done_count": len(source_ids) - len(errors), "failed_count": len(errors), "errors": errors}


HANDLERS = {IMPORT_CSV: import_csv, BULK_UPDATE: bulk_update, METADATA_UPDATE: metadata_update}
