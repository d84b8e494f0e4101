"""GDPR erasure pages: the guarded erase flow, the register of erasure requests with evidence, the re-creation guard."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from ..erasure import (
    ErasedPerson,
    GuardHit,
    customers_erase,
    erased_match,
    erasure_candidates,
    erasure_evidence,
    guard_message,
)
from ..erasure import guard_record as erasure_guard_record
from ..gdpr_forms import EraseForm, GuardOverrideForm
from ..models import ErasureRecord
from ..roles import ERASE, perm
from ..services.customers import customer_get
from ..services.voucherify import NotFound
from ..types import Customer
from .common import customer_not_found

ERASE_TEMPLATE = "customers/erase.html"
PAGE_SIZE = 50
OVERRIDE_FIELD = "erasure_override_reason"
# Form fields that are never carried over when the guard page re-posts the original form.
NOT_REPOSTED = {"csrfmiddlewaretoken", OVERRIDE_FIELD}


def _personal_values(customers: Iterable[Customer]) -> list[str]:
    return [value for c in customers for value in (c.email, c.name, c.source_id) if value]


def _erase_page(request: HttpRequest, *, customer: Customer, people: list[Customer], form: EraseForm, status=200):
    context = {"customer": customer, "people": people, "form": form, "nav": "customers"}
    return render(request, ERASE_TEMPLATE, context, status=status)


@permission_required(perm(ERASE), raise_exception=True)
@require_http_methods(["GET", "POST"])
def customer_erase_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Lets an admin answer a "forget me" request: every customer with the person's email is erased for good."""
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        return customer_not_found(request, customer_id, exc)
    # Looked up again on POST: whoever shares the email now is who gets erased.
    people = erasure_candidates(customer=customer)
    if request.method == "GET":
        form = EraseForm(customer=customer, personal_values=_personal_values(people))
        return _erase_page(request, customer=customer, people=people, form=form)

    form = EraseForm(request.POST, customer=customer, personal_values=_personal_values(people))
    if not form.is_valid():
        return _erase_page(request, customer=customer, people=people, form=form, status=400)
    data = form.cleaned_data
    record = customers_erase(
        actor=request.user,
        customers=people,
        reference=data["reference"],
        requester=data["requester"],
        requester_reference=data["requester_reference"],
        reason=data["reason"],
    )
    count = len(record.customer_ids)
    if record.outcome == ErasureRecord.Outcome.COMPLETED:
        messages.success(
            request, f"Erased {count} customer record{'s' if count != 1 else ''} for request {record.reference}."
        )
    elif record.outcome == ErasureRecord.Outcome.PARTIAL:
        messages.warning(
            request,
            f"Request {record.reference} is only partly done: some records could not be erased. "
            "See the receipts below and erase the rest again.",
        )
    else:
        messages.error(request, f"Nothing was erased for request {record.reference}: Voucherify refused or failed.")
    return redirect("customers:erasure", record.pk)


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
def erasure_list_view(request: HttpRequest) -> HttpResponse:
    """Lists every erasure request answered through the dashboard, newest first."""
    paginator = Paginator(ErasureRecord.objects.all(), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "erasures/list.html", {"page": page, "nav": "erasures"})


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
def erasure_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Shows one erasure request's case record: who, when, why, and Voucherify's receipt per customer."""
    record = get_object_or_404(ErasureRecord, pk=pk)
    return render(request, "erasures/detail.html", {"record": record, "nav": "erasures"})


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
def erasure_evidence_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Downloads one erasure record as JSON evidence for the data protection file."""
    record = get_object_or_404(ErasureRecord, pk=pk)
    body = json.dumps(erasure_evidence(record), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="erasure-{record.pk}.json"'
    return response


# Re-creation guard ---------------------------------------------------------------------------------


def guard_response(
    request: HttpRequest,
    *,
    email: str | None = None,
    source_id: str | None = None,
    target: str = "customer.create",
    rows: int = 1,
) -> HttpResponse | None:
    """Stops a write that would bring an erased person back, or lets an administrator's override through.

    Returns None when the write may go ahead (nobody erased matches, or an administrator with the
    erase permission gave a reason in ``erasure_override_reason``: audited as an override);
    otherwise a 409 page explaining why, which re-posts the form to the same URL with the reason.
    """
    person = erased_match(email=email, source_id=source_id)
    if person is None:
        return None
    return guard_stop(request, person=person, target=target, rows=rows)


def guard_stop(
    request: HttpRequest,
    *,
    person: ErasedPerson,
    target: str,
    rows: int = 1,
    hits: list[GuardHit] = (),
    row_label: str = "Row",
) -> HttpResponse | None:
    """The guard's decision for a match already found (see ``guard_response``).

    ``hits`` (from ``guard_check_rows``/``guard_check_numbered``) lists which rows of an import or
    bulk update are affected, shown as "<row_label> <number>".
    """
    can_override = request.user.has_perm(perm(ERASE))
    override = GuardOverrideForm(request.POST if OVERRIDE_FIELD in request.POST else None)
    if can_override and override.is_bound and override.is_valid():
        reason = override.cleaned_data[OVERRIDE_FIELD]
        erasure_guard_record(actor=request.user, person=person, target=target, override_reason=reason, rows=rows)
        return None
    if not override.is_bound:
        erasure_guard_record(actor=request.user, person=person, target=target, rows=rows)
    posted = [(name, value) for name, values in request.POST.lists() if name not in NOT_REPOSTED for value in values]
    context = {
        "message": guard_message(person),
        "person": person,
        "can_override": can_override,
        "override": override if can_override else None,
        "posted": posted,
        "action": request.get_full_path(),
        "hits": list(hits)[:50],
        "hit_count": len(hits),
        "row_label": row_label,
        "nav": "customers",
    }
    return render(request, "erasures/guard_blocked.html", context, status=409)


def guard_override_reason(request: HttpRequest) -> str:
    """The override reason an administrator gave, if any (for views that check rows themselves)."""
    if not request.user.has_perm(perm(ERASE)):
        return ""
    form = GuardOverrideForm(request.POST if OVERRIDE_FIELD in request.POST else None)
    return form.cleaned_data[OVERRIDE_FIELD] if form.is_bound and form.is_valid() else ""
