"""CSV export of every customer matching the list's filters, streamed page by page."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

from django.contrib.auth.decorators import permission_required
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..forms import CustomerFilterForm
from ..import_forms import EXPORT_COLUMNS, ExportColumnsForm
from ..roles import EXPORT, perm
from ..services.customers import customer_list
from ..services.voucherify import VoucherifyError
from ..spreadsheet import CsvChunks, neutralise
from ..types import Customer, CustomerPage, format_api_datetime

logger = logging.getLogger("customers_app.export")

PAGE_SIZE = 100


def filters_from(form: CustomerFilterForm) -> dict:
    """The list filters a valid CustomerFilterForm holds, as ``customer_list`` arguments."""
    return {name: form.cleaned_data[name] or None for name in CustomerFilterForm.FILTER_FIELDS}


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


def _cell(customer: Customer, column: str) -> str:
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


def export_rows(*, filters: dict, columns: list[str], first: CustomerPage | None = None) -> Iterator[str]:
    """The CSV as chunks of text: a byte-order mark, the header, then one chunk per page."""
    writer = CsvChunks()

    writer.writerow(columns)
    yield "\ufeff" + writer.take()
    try:
        for page in customer_pages(filters=filters, first=first):
            for customer in page.customers:
                writer.writerow([_cell(customer, column) for column in columns])
            yield writer.take()
    except VoucherifyError as error:
        # Headers are long gone; say so in the file rather than end it silently short.
        logger.warning("export stopped early: %s request_id=%s", error, error.request_id)
        writer.writerow([f"# Export incomplete: Voucherify failed ({error.message}). Export again."])
        yield writer.take()


@permission_required(perm(EXPORT), raise_exception=True)
@require_GET
def customer_export_view(request):
    """Lets a marketer download every customer matching the list's filters as a CSV, columns chosen."""
    filter_form = CustomerFilterForm(request.GET)
    columns_form = ExportColumnsForm(request.GET if {"columns", "download"} & set(request.GET) else None)
    if not filter_form.is_valid():
        context = {"filter_form": filter_form, "columns_form": columns_form, "nav": "customers"}
        return render(request, "customers/export.html", context, status=400)
    filters = filters_from(filter_form)
    if "download" in request.GET and columns_form.is_valid():
        # The first page is read before answering so an unreachable Voucherify gets the error page.
        first = customer_list(**filters, limit=PAGE_SIZE)
        columns = [c for c in EXPORT_COLUMNS if c in columns_form.cleaned_data["columns"]]
        response = StreamingHttpResponse(
            export_rows(filters=filters, columns=columns, first=first), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
        response["X-Export-Total"] = str(first.total)
        return response
    total = customer_list(**filters, limit=1).total
    hidden = [
        (key, value)
        for key, values in request.GET.lists()
        if key in CustomerFilterForm.FILTER_FIELDS
        for value in values
    ]
    context = {
        "filter_form": filter_form,
        "columns_form": columns_form,
        "total": total,
        "hidden": hidden,
        "chips": filter_form.active_filters(),
        "nav": "customers",
    }
    return render(request, "customers/export.html", context, status=400 if columns_form.is_bound else 200)
