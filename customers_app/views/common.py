"""Pieces shared by the customer pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..services.voucherify import NotFound


def customer_not_found(request: HttpRequest, customer_id: str, exc: NotFound) -> HttpResponse:
    """The friendly 404 for an unknown customer id or source id, with the jump box."""
    return render(request, "customers/not_found.html", {"customer_id": customer_id, "error": exc}, status=404)
