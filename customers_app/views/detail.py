"""A customer's page."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..roles import VIEW, perm
from ..services.customers import customer_get
from ..services.voucherify import NotFound
from .customers import LIST_QUERY_SESSION_KEY


@require_GET
@permission_required(perm(VIEW), raise_exception=True)
def customer_detail_view(request, customer_id: str):
    """Shows one customer's whole profile, by Voucherify id or source id."""
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        return render(
            request, "customers/not_found.html", {"customer_id": customer_id, "error": exc}, status=404
        )
    back_query = request.session.get(LIST_QUERY_SESSION_KEY, "")
    return render(
        request,
        "customers/detail.html",
        {"customer": customer, "back_query": back_query, "nav": "customers"},
    )
