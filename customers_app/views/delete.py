"""Guarded delete: a confirmation page that shows what will be lost, then a typed confirmation that acts."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..audit import Action, Outcome, audit_record, capture_request_ids, customer_label
from ..gdpr_forms import TypedConfirmationForm
from ..roles import DELETE, perm
from ..search.index import remove_customers
from ..services.customers import customer_delete, customer_get, customer_redeemables_list, customer_segments_list
from ..services.voucherify import NotFound, VoucherifyError
from ..signin.guards import dangerous_action, resumed_post
from ..types import Customer
from .common import customer_not_found

TEMPLATE = "customers/delete.html"
# The confirmation page shows this many redeemables, and the total.
REDEEMABLES_SHOWN = 100


def _page(request: HttpRequest, *, customer: Customer, form: TypedConfirmationForm, status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {"customer": customer, "form": form, "nav": "customers"}
    try:
        page = customer_redeemables_list(customer_id=customer.id, limit=REDEEMABLES_SHOWN)
        context["redeemables"], context["redeemables_total"] = page.items, page.total
    except NotFound:
        context["redeemables"], context["redeemables_total"] = [], 0
    context["segments"] = customer_segments_list(customer_id=customer.id)
    return render(request, TEMPLATE, context, status=status)


# The permission comes before the method check, so a refused user gets 403 whatever they send.
@permission_required(perm(DELETE), raise_exception=True)
@require_http_methods(["GET", "POST"])
@dangerous_action
def customer_delete_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Lets an admin delete a customer after seeing who it is and what they hold, and typing their email to confirm."""
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        return customer_not_found(request, customer_id, exc)

    if request.method == "GET":
        # Back from a step-up: the confirmation they had typed, to send again.
        return _page(request, customer=customer, form=TypedConfirmationForm(resumed_post(request), customer=customer))

    form = TypedConfirmationForm(request.POST, customer=customer)
    if not form.is_valid():
        return _page(request, customer=customer, form=form, status=400)

    label = customer_label(customer)
    with capture_request_ids() as request_ids:
        try:
            customer_delete(customer_id=customer.id)
        except NotFound:
            remove_customers([customer.id])
            messages.info(request, f"{customer.display_name} was already deleted in Voucherify.")
            return redirect("customers:list")
        except VoucherifyError as exc:
            audit_record(
                actor=request.user,
                action=Action.DELETE,
                target_id=customer.id,
                target_label=label,
                request_id=exc.request_id or "",
                outcome=Outcome.FAILED,
                detail=f"{type(exc).__name__}: {exc}",
            )
            raise
    audit_record(
        actor=request.user,
        action=Action.DELETE,
        target_id=customer.id,
        target_label=label,
        request_id=request_ids.last,
    )
    remove_customers([customer.id])
    messages.success(
        request,
        f"Deleted {customer.display_name}. Voucherify keeps their related records; erasure would remove those too.",
    )
    return redirect("customers:list")
