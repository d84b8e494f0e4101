"""Pieces shared by the customer pages."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..search.index import remove_customers
from ..search.models import IndexedCustomer
from ..services.voucherify import NotFound


def customer_not_found(request: HttpRequest, customer_id: str, exc: NotFound) -> HttpResponse:
    """The friendly 404 for an unknown customer id or source id, with the jump box.

    A search hit whose customer is gone from Voucherify (deleted elsewhere since the last sync) is
    dropped from the search index on the spot, and the page says so.
    """
    gone = list(
        IndexedCustomer.objects.filter(Q(customer_id=customer_id) | Q(source_id=customer_id)).values_list(
            "customer_id", flat=True
        )
    )
    if gone:
        remove_customers(gone)
        messages.info(request, "This customer no longer exists in Voucherify, so they were removed from search.")
    return render(request, "customers/not_found.html", {"customer_id": customer_id, "error": exc}, status=404)
