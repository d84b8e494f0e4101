"""GDPR access requests (art. 15): everything held about a person, gathered in the background into one pack.

The job (``BackgroundJob.Kind.ACCESS_PACK``) finds every customer record Voucherify holds for the typed
email, id or source id, reads each one's profile (metadata and summary included), every page of its
activity and redeemables and its segments, within the API budget's background share, and adds what the
dashboard itself holds about them: audit and view entries, imports that sent them, exports and bulk jobs
that included them. It writes two files through ``storage``: ``data.json`` for machines and a
self-contained, escaped ``report.html`` for the person; the download packs both into one zip on the fly.

The case keeps only counts, when the pack was ready and the keyed hashes of the ids it covered (so an
erasure of the person deletes the pack without the case naming them). Files live ``PRIVACY_FILE_DAYS``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from . import storage
from .audit import Action, audit_record
from .background import JobRun, start_job
from .erasure import erasure_subjects, identifier_digest, normalise_identifier
from .models import AuditEntry, BackgroundJob, ImportFile, Job, PrivacyRequest
from .services.customers import (
    customer_activity_list,
    customer_get,
    customer_redeemables_list,
    customer_segments_list,
)
from .types import Customer

PAGE_SIZE = 100


def safe_name(reference: str) -> str:
    """A typed reference as a file or folder name: no separators, dots or spaces to escape through."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", reference).strip("-")[:40] or "request"


# Starting ------------------------------------------------------------------------------------------


def access_pack_start(*, case: PrivacyRequest, user) -> BackgroundJob:
    """Queues the job that gathers the pack for an open access request; the job's record names only the case."""
    with transaction.atomic():  # the job is queued once the case knows it
        job = start_job(
            kind=BackgroundJob.Kind.ACCESS_PACK,
            user=user,
            description=f"Access request {case.reference}: gathering everything held about the person",
            params={"privacy_request": case.pk},
        )
        PrivacyRequest.objects.filter(pk=case.pk).update(job=job)
    case.job = job
    return job


# Gathering ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value):
        return {key: _plain(item) for key, item in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _every_page(run: JobRun, fetch_page, customer_id: str, page_size: int) -> list[dict[str, Any]]:
    """Every item of a customer's cursor-paged list (activity, redeemables), a job step per page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = fetch_page(customer_id=customer_id, limit=page_size, starting_after_id=cursor)
        items += [_plain(item) for item in page.items]
        run.step()
        if not page.has_more or not page.next_cursor:
            return items
        cursor = page.next_cursor


def customer_record(run: JobRun, customer: Customer, *, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """One customer's whole record at Voucherify: profile (metadata, summary), activity, redeemables, segments."""
    profile = customer_get(customer_id=customer.id).raw
    run.step()
    return {
        "id": customer.id,
        "source_id": customer.source_id,
        "profile": profile,
        "metadata": profile.get("metadata") or {},
        "summary": profile.get("summary") or {},
        "activity": _every_page(run, customer_activity_list, customer.id, page_size),
        "redeemables": _every_page(run, customer_redeemables_list, customer.id, page_size),
        "segments": [_plain(segment) for segment in customer_segments_list(customer_id=customer.id)],
    }


def _keys(customers: list[Customer]) -> list[str]:
    return [value for c in customers for value in (c.id, c.source_id) if value]


def dashboard_records(customers: list[Customer], *, extra_emails: Iterable[str] = ()) -> dict[str, Any]:
    """What the dashboard itself holds about these customers: audit and view entries, and the jobs that
    included them (imports sent, exports written, bulk updates)."""
    keys = _keys(customers)
    emails = sorted({normalise_identifier(v) for v in (*(c.email for c in customers), *extra_emails) if v})
    match = Q(target_id__in=keys) if keys else Q(pk__in=[])
    for key in keys:
        for form in {key, quote(key, safe="")}:
            match |= Q(target_id__contains=f"/customers/{form}/")
    for email in emails:
        match |= Q(target_label__icontains=email)
    entries = [
        {
            "when": entry.created_at.isoformat(),
            "who": entry.actor_name,
            "action": entry.action,
            "action_label": entry.get_action_display(),
            "target_id": entry.target_id,
            "target_label": entry.target_label,
            "changes": entry.changes,
            "outcome": entry.outcome,
            "detail": entry.detail,
        }
        for entry in AuditEntry.objects.filter(match).exclude(action__startswith="privacy.").order_by("created_at")
    ]
    needles = [value.casefold() for value in (*keys, *emails) if len(value) >= 5]
    imports = []
    for job in Job.objects.filter(sent_import_file__isnull=False).select_related("sent_import_file"):
        content = bytes(job.sent_import_file.content).decode("utf-8", errors="replace").casefold()
        if any(needle in content for needle in needles):
            imports.append(_job_entry(job.get_kind_display(), job.created_at, job.created_by_name, job.description))
    for upload in ImportFile.objects.filter(kind=ImportFile.Kind.UPLOAD):
        content = bytes(upload.content).decode("utf-8", errors="replace").casefold()
        if any(needle in content for needle in needles):
            imports.append(_job_entry("Import upload (not sent yet)", upload.created_at, "", upload.file_name))
    background = []
    for job in BackgroundJob.objects.exclude(kind=BackgroundJob.Kind.ACCESS_PACK):
        in_params = any(needle in json.dumps(job.params, ensure_ascii=False).casefold() for needle in needles)
        in_file = job.kind == BackgroundJob.Kind.EXPORT and storage.contains_any(job.file_name, needles)
        if in_params or in_file:
            background.append(_job_entry(job.get_kind_display(), job.created_at, job.created_by_name, job.description))
    return {"audit_entries": entries, "imports": imports, "background_jobs": background}


def _job_entry(kind: str, when: datetime, who: str, description: str) -> dict[str, str]:
    return {"kind": kind, "when": when.isoformat(), "who": who, "description": description}


def subject_digests(case: PrivacyRequest, customers: list[Customer]) -> list[str]:
    values = [*_keys(customers), *(c.email for c in customers if c.email)]
    return sorted({identifier_digest(v) for v in values if normalise_identifier(v)} | {case.identifier_digest} - {""})


def run_access_pack(run: JobRun, *, page_size: int | None = None) -> str:
    """Gathers the pack for the job's case and closes the case with its counts (see the module docstring)."""
    case = PrivacyRequest.objects.get(pk=run.job.params["privacy_request"])
    page_size = page_size or run.job.params.get("page_size") or PAGE_SIZE
    if not case.is_open or not case.identifier:
        return "This request was closed before its pack was gathered; nothing was fetched."
    customers = erasure_subjects(identifier=case.identifier, identifier_kind=case.identifier_kind)
    run.step(total=len(customers) or None)
    records = []
    for number, customer in enumerate(customers, start=1):
        records.append(customer_record(run, customer, page_size=page_size))
        run.step(done=number)
    typed_email = [case.identifier] if case.identifier_kind == PrivacyRequest.IdentifierKind.EMAIL else []
    held = dashboard_records(customers, extra_emails=typed_email)
    now = timezone.now()
    document = {
        "object": "access_request_pack",
        "request": {"reference": case.reference, "received_on": case.received_on.isoformat()},
        "generated_at": now.isoformat(),
        "controller_note": (
            "Everything this service holds about you: your customer records as kept in Voucherify, and the "
            "records the customer dashboard keeps about work done on them."
        ),
        "customers": records,
        "dashboard": held,
    }
    counts = {
        "customers": len(records),
        "activity": sum(len(r["activity"]) for r in records),
        "redeemables": sum(len(r["redeemables"]) for r in records),
        "segments": sum(len(r["segments"]) for r in records),
        "audit_entries": len(held["audit_entries"]),
        "imports": len(held["imports"]),
        "background_jobs": len(held["background_jobs"]),
    }
    folder = f"privacy/{safe_name(case.reference)}-{run.job.pk}"
    json_name, _ = storage.save_stream(
        f"{folder}/data.json", [json.dumps(document, indent=2, ensure_ascii=False, default=str)]
    )
    html_name, _ = storage.save_stream(
        f"{folder}/report.html", [render_to_string("erasures/access_pack.html", _report_context(document, counts))]
    )
    found = bool(records)
    case.counts = counts
    case.pack_files = [json_name, html_name]
    case.subject_digests = subject_digests(case, customers)
    case.delivered_at = now
    case.closed_at = now
    case.status = PrivacyRequest.Status.DONE
    case.outcome = PrivacyRequest.Outcome.DELIVERED if found else PrivacyRequest.Outcome.NO_RECORDS
    case.identifier = ""  # the pack has what it needs; the case keeps no copy
    case.save(update_fields=[
        "counts", "pack_files", "subject_digests", "delivered_at", "closed_at", "status", "outcome", "identifier",
    ])  # fmt: skip
    audit_record(
        actor=run.job.created_by,
        action=Action.PRIVACY_ACCESS,
        target_id=case.reference,
        changes={"privacy_request": case.pk, "counts": counts},
        detail=f"Access request {case.reference}: pack ready ({counts['customers']} customer records)",
    )
    return (
        f"Pack ready: {counts['customers']} customer record{'s' if counts['customers'] != 1 else ''}, "
        f"{counts['activity']} activity entries, {counts['audit_entries']} audit entries."
    )


# Files ----------------------------------------------------------------------------------------------


def _readable(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _report_context(document: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    """The pack as the readable page shows it: nested values written out as indented JSON."""
    customers = [
        {
            **record,
            "profile_rows": [(key, _readable(value)) for key, value in record["profile"].items()],
            "activity": [{**entry, "data": _readable(entry.get("data"))} for entry in record["activity"]],
        }
        for record in document["customers"]
    ]
    audit = [{**entry, "changes": _readable(entry["changes"]) if entry["changes"] else ""}
             for entry in document["dashboard"]["audit_entries"]]  # fmt: skip
    return {"pack": {**document, "customers": customers, "audit_entries": audit}, "counts": counts}


class _ZipSink:
    """A write-only file for ``zipfile`` whose bytes are taken out as they come (no seek: data descriptors)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def pack_zip_stream(case: PrivacyRequest) -> Iterator[bytes]:
    """The pack's files as one zip, built while it is sent (memory stays flat)."""
    sink = _ZipSink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in case.pack_files:
            member_name = f"{safe_name(case.reference)}/{name.rsplit('/', 1)[-1]}"
            with archive.open(member_name, mode="w", force_zip64=True) as member:
                for chunk in storage.open_stream(name):
                    member.write(chunk)
                    if len(sink.buffer) >= 64 * 1024:
                        yield sink.take()
            yield sink.take()
    yield sink.take()


def pack_available(case: PrivacyRequest) -> bool:
    return bool(case.pack_files) and all(storage.exists(name) for name in case.pack_files)


def pack_delete(case: PrivacyRequest) -> None:
    for name in case.pack_files:
        storage.delete(name)
    case.pack_files, case.pack_deleted_at = [], timezone.now()
    case.save(update_fields=["pack_files", "pack_deleted_at"])


def purge_expired_packs() -> int:
    """Deletes access packs older than ``PRIVACY_FILE_DAYS``; returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.PRIVACY_FILE_DAYS)
    count = 0
    for case in PrivacyRequest.objects.filter(delivered_at__lt=cutoff).exclude(pack_files=[]):
        pack_delete(case)
        count += 1
    return count
