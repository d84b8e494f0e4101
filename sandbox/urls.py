"""Routes of the sandbox API (mounted at ``/sandbox/``); customer ids may contain slashes."""

from __future__ import annotations

from django.urls import path, re_path

from sandbox.api import api_view, not_found
from sandbox.views import bulk, customer_related, customers, exports, segments


def _post_else_customer(post_view, name: str):
    """``/v1/customers/importCSV`` and friends take POST; other methods treat the path as a customer id."""

    def view(request):
        if request.method == "POST":
            return post_view(request)
        return customers.customer_detail(request, customer_id=name)

    view.login_required = False
    view.csrf_exempt = True
    return view


@api_view("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
def unknown(request, rest: str = ""):
    raise not_found("endpoint", request.path)


app_name = "sandbox"
urlpatterns = [
    path("v1/customers", customers.customers, name="customers"),
    path("v1/customers/importCSV", _post_else_customer(bulk.import_csv, "importCSV"), name="import-csv"),
    path("v1/customers/bulk/async", _post_else_customer(bulk.bulk_update, "bulk/async"), name="bulk"),
    path(
        "v1/customers/metadata/async",
        _post_else_customer(bulk.metadata_update, "metadata/async"),
        name="metadata",
    ),
    path(
        "v1/customers/<path:customer_id>/permanent-deletion",
        customers.permanent_deletion,
        name="permanent-deletion",
    ),
    path("v1/customers/<path:customer_id>/activity", customer_related.activity, name="activity"),
    path("v1/customers/<path:customer_id>/activities", customer_related.activities, name="activities"),
    path("v1/customers/<path:customer_id>/redeemables", customer_related.redeemables, name="redeemables"),
    path(
        "v1/customers/<path:customer_id>/segments",
        customer_related.customer_segments,
        name="customer-segments",
    ),
    path("v1/customers/<path:customer_id>", customers.customer_detail, name="customer"),
    path("v1/segments", segments.segments, name="segments"),
    path("v1/segments/<path:segment_id>", segments.segment_detail, name="segment"),
    path("v1/async-actions", segments.async_actions, name="async-actions"),
    path("v1/async-actions/<path:action_id>", segments.async_action_detail, name="async-action"),
    path("v1/exports", exports.exports, name="exports"),
    path("v1/exports/<path:export_id>", exports.export_detail, name="export"),
    re_path(r"^(?P<rest>.*)$", unknown),
]
