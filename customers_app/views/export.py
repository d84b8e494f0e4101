"""CSV export of every customer matching the list's filters: choose columns, see the cost, start a job."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..budget_estimates import job_duration
from ..export_jobs import export_conditions, export_cost, start_export
from ..forms import CustomerFilterForm
from ..import_forms import EXPORT_COLUMNS, ExportColumnsForm
from ..roles import EXPORT, perm
from ..services.customers import customer_list


def filters_from(form: CustomerFilterForm) -> dict:
    """The list filters a valid CustomerFilterForm holds, as ``customer_list`` arguments."""
    return {name: form.cleaned_data[name] or None for name in CustomerFilterForm.FILTER_FIELDS}


@permission_required(perm(EXPORT), raise_exception=True)
@require_http_methods(["GET", "POST"])
def customer_export_view(request):
    """Shows what an export of the list's matches will hold and cost; POST queues it as a job."""
    query = request.POST if request.method == "POST" else request.GET
    filter_form = CustomerFilterForm(query)
    columns_form = ExportColumnsForm(request.POST if request.method == "POST" else None)
    if not filter_form.is_valid():
        context = {"filter_form": filter_form, "columns_form": columns_form, "nav": "customers"}
        return render(request, "customers/export.html", context, status=400)
    filters = filters_from(filter_form)
    total = customer_list(**filters, limit=1).total
    if request.method == "POST" and columns_form.is_valid():
        columns = [c for c in EXPORT_COLUMNS if c in columns_form.cleaned_data["columns"]]
        job = start_export(user=request.user, filters=filters, columns=columns, total=total)
        return redirect("customers:background-job", job_id=job.pk)
    calls = export_cost(total=total, filters=filters)
    hidden = [
        (key, value)
        for key, values in query.lists()
        if key in CustomerFilterForm.FILTER_FIELDS
        for value in values
    ]
    context = {
        "filter_form": filter_form,
        "columns_form": columns_form,
        "total": total,
        "hidden": hidden,
        "chips": filter_form.active_filters(),
        "calls": calls,
        "duration": job_duration(calls),
        "via_exports_api": export_conditions(filters) is not None,
        "nav": "customers",
    }
    return render(request, "customers/export.html", context, status=400 if columns_form.is_bound else 200)
