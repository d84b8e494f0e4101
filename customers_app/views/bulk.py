"""Bulk updates from the customer list: choose what to set, preview before → after, then send.

Selected rows (a list page at most) are sent at once; "all matching this filter" starts a
background job (``bulk_jobs``) that walks every match, however many there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..audit import Action, audited
from ..budget_estimates import job_duration
from ..bulk_jobs import bulk_update_cost, start_bulk_update, update_body, update_kinds
from ..erasure import guard_check_rows
from ..export_jobs import PAGE_SIZE
from ..forms import CustomerFilterForm
from ..import_forms import BULK_FIELDS, BulkUpdateForm
from ..jobs import bulk_update_start, metadata_update_start
from ..roles import BULK_UPDATE, perm
from ..services.customers import customer_get, customer_list
from ..services.voucherify import NotFound, RequestError
from ..signin.guards import dangerous_action, resumed_post
from ..types import Customer
from .erasure import guard_stop
from .export import filters_from

MAX_SELECTED = 100  # one list page at most
PREVIEW_ROWS = 50
SELECTION_KEYS = ("id", "scope", *CustomerFilterForm.FILTER_FIELDS)


@dataclass
class Selection:
    """The customers to update, just read from Voucherify (for "all matching": the first page only)."""

    customers: list[Customer] = field(default_factory=list)  # those with a source id
    without_source_id: list[Customer] = field(default_factory=list)
    missing: int = 0
    requested: int = 0  # ids asked for (selected rows), each one read
    all_matching: bool = False
    total_matching: int = 0
    filters: dict = field(default_factory=dict)
    filter_chips: list = field(default_factory=list)

    @property
    def selected_count(self) -> int:
        return len(self.customers) + len(self.without_source_id)


def _read_selection(query: QueryDict) -> Selection | None:
    """Reads the chosen customers: the ids from the list, or the first page of all matching the filters."""
    selection = Selection()
    if query.get("scope") == "all":
        form = CustomerFilterForm(query)
        if not form.is_valid():
            return None
        selection.all_matching = True
        selection.filters = filters_from(form)
        selection.filter_chips = form.active_filters()
        # One call for the preview and the total; the job reads the rest as it goes.
        first = customer_list(**selection.filters, limit=PAGE_SIZE)
        selection.total_matching = first.total
        found = first.customers
    else:
        ids = list(dict.fromkeys(i for i in query.getlist("id") if i))[:MAX_SELECTED]
        if not ids:
            return None
        selection.requested = len(ids)
        found = []
        for customer_id in ids:
            try:
                found.append(customer_get(customer_id=customer_id))
            except NotFound:
                selection.missing += 1
    for customer in found:
        (selection.customers if customer.source_id else selection.without_source_id).append(customer)
    return selection


def _cost(selection: Selection, changes: dict[str, str], metadata: dict[str, str]) -> dict[str, Any]:
    """What sending costs: the job's estimate for all matching; one read per id and one send per kind otherwise."""
    kinds = len(update_kinds(changes, metadata))
    if selection.all_matching:
        calls = bulk_update_cost(total=selection.total_matching, kinds=kinds)
        return {"calls": calls, "duration": job_duration(calls)}
    return {"calls": selection.requested + kinds, "reads": selection.requested, "sends": kinds}


def _before(customer: Customer, name: str) -> str:
    if name.startswith("address_"):
        key = name.removeprefix("address_")
        return (getattr(customer.address, key, None) if customer.address else None) or ""
    value = getattr(customer, name, None)
    return value.isoformat() if hasattr(value, "isoformat") else (value or "")


def _preview_rows(selection: Selection, changes: dict[str, str], metadata: dict[str, str]) -> list[dict]:
    rows = []
    for customer in selection.customers[:PREVIEW_ROWS]:
        diffs = [(BULK_FIELDS[name], _before(customer, name), value) for name, value in changes.items()]
        diffs += [(f"metadata.{key}", str(customer.metadata.get(key, "")), value) for key, value in metadata.items()]
        rows.append({"customer": customer, "diffs": diffs})
    return rows


def _hidden(query: QueryDict) -> list[tuple[str, str]]:
    return [(key, value) for key, values in query.lists() if key != "csrfmiddlewaretoken" for value in values]


@permission_required(perm(BULK_UPDATE), raise_exception=True)
@require_http_methods(["GET", "POST"])
@dangerous_action
def customer_bulk_view(request):
    """Lets a marketer set fields or metadata on many customers at once, after seeing before → after."""
    query = request.POST if request.method == "POST" else request.GET
    resumed = resumed_post(request) if request.method == "GET" else None
    if resumed is not None:
        # Back from a step-up: the same before → after preview again, to confirm once more.
        query = resumed.copy()
        query["preview"] = "1"
    selection = _read_selection(query)
    if selection is None:
        messages.warning(request, "Select customers in the list first, or choose all customers matching a filter.")
        return redirect("customers:list")
    wants_preview = request.method == "POST" or "preview" in query
    form = BulkUpdateForm(query if wants_preview else None)
    selection_hidden = [(k, v) for k, v in _hidden(query) if k in SELECTION_KEYS]
    context = {
        "selection": selection,
        "form": form,
        "max_selected": MAX_SELECTED,
        "page_size": PAGE_SIZE,
        "selection_hidden": selection_hidden,
        "nav": "customers",
    }
    if not wants_preview or not form.is_valid():
        return render(request, "customers/bulk.html", context, status=400 if form.is_bound else 200)
    changes, metadata = form.field_changes(), form.metadata_changes()
    if request.method == "GET":
        context.update(
            preview_rows=_preview_rows(selection, changes, metadata),
            changes=changes,
            metadata=metadata,
            hidden=[(k, v) for k, v in _hidden(query) if k != "preview"],
            **_cost(selection, changes, metadata),
        )
        return render(request, "customers/bulk_preview.html", context)
    if selection.all_matching:
        return _start_job(request, selection, changes, metadata)
    if not selection.customers:
        messages.error(request, "None of the selected customers has a source id, so none can be bulk-updated.")
        return redirect("customers:list")
    # A bulk update upserts by source id: it must not bring back someone erased (GDPR) meanwhile,
    # nor give a customer an erased email, unless an admin overrides.
    hits = guard_check_rows({"source_id": c.source_id, "email": changes.get("email")} for c in selection.customers)
    if hits:
        stopped = guard_stop(request, person=hits[0].person, target="customers.bulk_update", rows=len(hits), hits=hits)
        if stopped is not None:
            return stopped
    return _send(request, selection, changes, metadata)


def _send(request, selection: Selection, changes: dict[str, str], metadata: dict[str, str]):
    count = len(selection.customers)
    who = f"{count} customer{'s' if count != 1 else ''}"
    jobs = []
    try:
        if changes:
            labels = ", ".join(BULK_FIELDS[name].lower() for name in changes)
            description = f"Set {labels} on {who}"
            audit_changes = {"customers": count, "fields": changes}
            with audited(
                actor=request.user, action=Action.BULK_UPDATE, target_label=description, changes=audit_changes
            ) as audit:
                job = bulk_update_start(
                    user=request.user,
                    updates=[update_body(c.source_id, changes) for c in selection.customers],
                    description=description,
                )
                audit.target_id = job.async_action_id
            jobs.append(job)
        if metadata:
            description = f"Set metadata {', '.join(metadata)} on {who}"
            audit_changes = {"customers": count, "metadata": metadata}
            with audited(
                actor=request.user, action=Action.BULK_UPDATE, target_label=description, changes=audit_changes
            ) as audit:
                job = metadata_update_start(
                    user=request.user,
                    source_ids=[c.source_id for c in selection.customers],
                    metadata=metadata,
                    description=description,
                )
                audit.target_id = job.async_action_id
            jobs.append(job)
    except RequestError as error:
        request_id = error.request_id or "unknown"
        messages.error(request, f"Voucherify refused the update: {error.message} (request {request_id})")
        if not jobs:
            return redirect("customers:list")
    for job in jobs:
        messages.success(request, f"{job.description}: job {job.async_action_id} started.")
    return redirect("customers:job", jobs[0].async_action_id)


def _start_job(request, selection: Selection, changes: dict[str, str], metadata: dict[str, str]):
    """Every match, however many: a background job reads them page by page and sends them in chunks."""
    if not selection.total_matching:
        messages.error(request, "No customers match this filter, so there is nothing to update.")
        return redirect("customers:list")
    # The email being set goes to every match: an erased email is stopped here (an administrator may
    # override). Source ids are checked page by page by the job, which leaves erased people out.
    check_email = True
    if changes.get("email"):
        hits = guard_check_rows([{"email": changes["email"]}])
        if hits:
            stopped = guard_stop(
                request, person=hits[0].person, target="customers.bulk_update", rows=selection.total_matching
            )
            if stopped is not None:
                return stopped
            check_email = False
    job = start_bulk_update(
        user=request.user,
        filters=selection.filters,
        changes=changes,
        metadata=metadata,
        total=selection.total_matching,
        check_email=check_email,
    )
    count = selection.total_matching
    messages.success(
        request, f"Bulk update of {count:,} matching customer{'s' if count != 1 else ''} started as a background job."
    )
    return redirect("customers:background-job", job_id=job.pk)
