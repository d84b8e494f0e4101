"""The audit trail pages: the filtered, paged list (changes and view records), its CSV export, and each
customer's History tab."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import replace

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from ..audit import audit_list, history_panel
from ..models import AuditEntry
from ..roles import VIEW_AUDIT, perm
from ..signin.guards import second_factor_required
from ..spreadsheet import neutralise
from ..view_records import AuditTrailFilterForm
from .detail import TABS_BY_SLUG, Tab, render_tab

PAGE_SIZE = 50
EXPORT_COLUMNS = [
    "time_utc",
    "actor",
    "action",
    "outcome",
    "target_id",
    "target_label",
    "changes",
    "request_id",
    "detail",
    "scrubbed_at_utc",
    "rows",
    "address",
]


@vary_on_headers("HX-Request")
@permission_required(perm(VIEW_AUDIT), raise_exception=True)
@require_GET
@second_factor_required
def audit_list_view(request: HttpRequest) -> HttpResponse:
    """Lets an admin see who changed or looked at what and when, filtered by actor, action, customer,
    dates and whether views are shown."""
    form = AuditTrailFilterForm(request.GET or None)
    entries = audit_list(filters=form.filters()) if not form.is_bound or form.is_valid() else AuditEntry.objects.none()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "nav": "audit",
    }
    template = "audit/list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#results"
    return render(request, template, context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _export_rows(entries) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for entry in entries.iterator(chunk_size=500):
        yield writer.writerow(
            [
                neutralise(value)
                for value in (
                    entry.created_at.isoformat(),
                    entry.actor_name,
                    entry.action,
                    entry.outcome,
                    entry.target_id,
                    entry.target_label,
                    json.dumps(entry.changes, ensure_ascii=False, sort_keys=True, default=str) if entry.changes else "",
                    entry.request_id,
                    entry.detail,
                    entry.scrubbed_at.isoformat() if entry.scrubbed_at else "",
                    "" if entry.rows is None else entry.rows,
                    entry.address or "",
                )
            ]
        )


@permission_required(perm(VIEW_AUDIT), raise_exception=True)
@require_GET
@second_factor_required
def audit_export_view(request: HttpRequest) -> HttpResponse:
    """Downloads the audit entries matching the filters as CSV."""
    form = AuditTrailFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "audit/list.html", {"form": form, "page": None, "nav": "audit"}, status=400)
    entries = audit_list(filters=form.filters())
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(_export_rows(entries), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


# History tab ---------------------------------------------------------------------------------------


# The customer page lists History among its tabs (views/detail.py TABS); this stands in if it does not.
HISTORY_TAB = TABS_BY_SLUG.get("history") or Tab(
    "history", "History", "customers/tab_history.html", history_panel, permission=perm(VIEW_AUDIT)
)


@vary_on_headers("HX-Request")
@permission_required(perm(VIEW_AUDIT), raise_exception=True)
@require_GET
@second_factor_required
def customer_history_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Shows who changed this customer through the dashboard and who looked at it, and when (the History tab)."""
    # Read here, on the request's own database connection: the whole-page render loads the panel
    # in a worker thread, which would not see this transaction's rows (and needs no Voucherify call).
    panel = HISTORY_TAB.load(request, customer_id)
    return render_tab(request, customer_id, replace(HISTORY_TAB, load=lambda *_: panel))
