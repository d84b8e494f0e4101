"""Endpoints that start async actions: CSV import, bulk update and metadata update."""

from __future__ import annotations

import csv
import io

from charset_normalizer import from_bytes
from django.db import transaction
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError

from sandbox import jobs
from sandbox.api import MAX_BULK_BYTES, PayloadTooLarge, api_view, bad_payload, json_body
from sandbox.routers import SANDBOX_DB


def _accepted(action_type: str, payload: dict, request) -> JsonResponse:
    with transaction.atomic(using=SANDBOX_DB):
        action = jobs.enqueue(action_type, payload, request.voucherify_request_id)
    return JsonResponse({"async_action_id": action.id}, status=202)


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM) first, then whatever charset-normalizer recognises."""
    if b"\x00" in raw:
        raise bad_payload("The file is not a CSV file (binary content)", key="invalid_csv")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(raw).best()
        if best is None:
            raise bad_payload("The file's text encoding is not recognised", key="invalid_csv") from None
        return str(best)


def parse_csv(raw: bytes) -> list[dict]:
    """Rows as ``{"row": n, "values": {header: cell}}`` (``n`` excludes the header), or a 400.

    Comma-separated as Voucherify documents; a header row with semicolons and no commas is read as
    semicolon-separated (spreadsheet exports in many locales). Rows with more cells than headers are
    kept with an ``error`` so the import reports them as failed.
    """
    text = _decode(raw)
    if not text.strip():
        raise bad_payload("The CSV file is empty", key="invalid_csv")
    first_line = text.lstrip().splitlines()[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    try:
        reader = csv.reader(io.StringIO(text.lstrip()), delimiter=delimiter, strict=True)
        header = [h.strip() for h in next(reader)]
        records = list(reader)
    except csv.Error as error:
        raise bad_payload(f"The CSV file is malformed: {error}", key="invalid_csv") from error
    if any(not h for h in header) or len({h.lower() for h in header}) != len(header):
        raise bad_payload("The CSV header row has empty or duplicate column names", key="invalid_csv")
    if not {h.lower() for h in header} & set(jobs.CSV_COLUMNS):
        raise bad_payload(
            "The CSV header row names none of the standard customer columns "
            "(Id, Name, Email, Phone, Birthdate, Source_id, Address_…, Description)",
            key="invalid_csv",
        )
    rows = []
    for number, cells in enumerate(records, start=1):
        if not any(cell.strip() for cell in cells):
            continue
        row = {"row": number, "values": dict(zip(header, cells, strict=False))}
        if len(cells) > len(header):
            row["error"] = f"Row has {len(cells)} cells but the header has {len(header)} columns"
        rows.append(row)
    return rows


@api_view("POST")
def import_csv(request):
    try:
        upload = request.FILES.get("file")
    except MultiPartParserError as error:
        raise bad_payload(f"Malformed multipart body: {error}") from error
    if upload is None:
        raise bad_payload("Send the CSV as the multipart form field 'file'", key="missing_file")
    if upload.size > MAX_BULK_BYTES:
        raise PayloadTooLarge()
    return _accepted(jobs.IMPORT_CSV, {"rows": parse_csv(upload.read())}, request)


@api_view("POST")
def bulk_update(request):
    body = json_body(request, limit=MAX_BULK_BYTES)
    if not isinstance(body, list):
        raise bad_payload("The body must be a JSON array of customers")
    return _accepted(jobs.BULK_UPDATE, {"customers": body}, request)


@api_view("POST")
def metadata_update(request):
    body = json_body(request, limit=MAX_BULK_BYTES)
    if not isinstance(body, dict):
        raise bad_payload("The body must be a JSON object with source_ids and metadata")
    if not isinstance(body.get("source_ids"), list):
        raise bad_payload("source_ids is required and must be an array of strings")
    if not isinstance(body.get("metadata"), dict):
        raise bad_payload("metadata is required and must be an object")
    return _accepted(jobs.METADATA_UPDATE, {"source_ids": body["source_ids"], "metadata": body["metadata"]}, request)
