"""GDPR pages: privacy requests (access and erasure cases, approval, access packs), the guarded erase flow,
erasure records with evidence, the re-creation guard."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import audit
from ..erasure import (
    ErasedPerson,
    GuardHit,
    erased_match,
    erasure_candidates,
    erasure_evidence,
    erasure_subjects,
    guard_message,
)
from ..erasure import guard_record as erasure_guard_record
from ..gdpr_forms import CaseConfirmationForm, EraseForm, GuardOverrideForm, PrivacyRequestForm, RejectionForm
from ..models import ErasureRecord, PrivacyRequest
from ..privacy import (
    NotAllowed,
    approval_required,
    deadline,
    erasure_carry_out,
    may_carry_out,
    may_download,
    may_reject,
    privacy_request_list,
    privacy_request_open,
    privacy_request_reject,
)
from ..privacy_pack import pack_available, pack_zip_stream, purge_expired_packs
from ..roles import ERASE, perm
from ..services.customers import customer_get
from ..services.voucherify import NotFound
from ..signin.guards import dangerous_action, resumed_post, second_factor_required
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
    context = {
        "customer": customer,
        "people": people,
        "form": form,
        "approval_required": approval_required(),
        "nav": "customers",
    }
    return render(request, ERASE_TEMPLATE, context, status=status)


@permission_required(perm(ERASE), raise_exception=True)
@require_http_methods(["GET", "POST"])
@dangerous_action
def customer_erase_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Lets an admin answer a "forget me" request: every customer with the person's email is erased for good."""
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        return customer_not_found(request, customer_id, exc)
    # Looked up again on POST: whoever shares the email now is who gets erased.
    people = erasure_candidates(customer=customer)
    if request.method == "GET":
        # Back from a step-up: what they had typed, to confirm once more.
        form = EraseForm(resumed_post(request), customer=customer, personal_values=_personal_values(people))
        return _erase_page(request, customer=customer, people=people, form=form)

    form = EraseForm(request.POST, customer=customer, personal_values=_personal_values(people))
    if not form.is_valid():
        return _erase_page(request, customer=customer, people=people, form=form, status=400)
    data = form.cleaned_data
    case = privacy_request_open(
        actor=request.user,
        kind=PrivacyRequest.Kind.ERASURE,
        identifier=customer.id,
        identifier_kind=PrivacyRequest.IdentifierKind.ID,
        requester=data["requester"],
        requester_reference=data["requester_reference"],
        reason=data["reason"],
        reference=data["reference"],
    )
    if approval_required():
        messages.info(request, f"Request {case.reference} now waits for a second person's approval.")
        return redirect("customers:privacy-request", case.pk)
    record = erasure_carry_out(case=case, actor=request.user, customers=people)
    return _erasure_done(request, record)


def _erasure_done(request: HttpRequest, record: ErasureRecord) -> HttpResponse:
    count = len(record.receipts)
    nothing_held = bool(record.receipts) and all(r["outcome"] == "not_found" for r in record.receipts)
    if record.outcome == ErasureRecord.Outcome.COMPLETED and nothing_held:
        messages.success(
            request,
            f"Nothing found for request {record.reference}: Voucherify holds no customer for it any more. "
            "It is recorded, and the guard stops the person being re-created.",
        )
    elif record.outcome == ErasureRecord.Outcome.COMPLETED:
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


# Privacy requests ----------------------------------------------------------------------------------


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
@second_factor_required
def privacy_request_list_view(request: HttpRequest) -> HttpResponse:
    """Lists every privacy request, what is overdue or due within a week first."""
    purge_expired_packs()  # on the way: packs older than PRIVACY_FILE_DAYS
    page = Paginator(privacy_request_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(case, deadline(case)) for case in page.object_list]
    context = {"page": page, "rows": rows, "approval_required": approval_required(), "nav": "erasures"}
    return render(request, "erasures/list.html", context)


@permission_required(perm(ERASE), raise_exception=True)
@require_http_methods(["GET", "POST"])
@second_factor_required
def privacy_request_new_view(request: HttpRequest) -> HttpResponse:
    """Lets an admin record an access or erasure request, also for someone Voucherify no longer shows."""
    if request.method == "GET":
        initial = {name: request.GET[name] for name in ("kind", "identifier_kind") if request.GET.get(name)}
        form = PrivacyRequestForm(initial=initial)
        return render(request, "erasures/new.html", {"form": form, "nav": "erasures"})
    form = PrivacyRequestForm(request.POST)
    if not form.is_valid():
        return render(request, "erasures/new.html", {"form": form, "nav": "erasures"}, status=400)
    case = privacy_request_open(actor=request.user, **form.cleaned_data)
    if case.kind == PrivacyRequest.Kind.ACCESS:
        messages.success(request, f"Access request {case.reference} recorded: its pack is being gathered.")
    elif case.status == PrivacyRequest.Status.AWAITING_APPROVAL:
        messages.info(request, f"Erasure request {case.reference} recorded: it waits for a second person's approval.")
    else:
        messages.info(request, f"Erasure request {case.reference} recorded. Check who will be erased, then confirm.")
    return redirect("customers:privacy-request", case.pk)


def _case(pk: int) -> PrivacyRequest:
    return get_object_or_404(PrivacyRequest.objects.select_related("erasure", "job"), pk=pk)


def _case_page(request: HttpRequest, case: PrivacyRequest, *, confirm=None, reject=None, status=200):
    """The case page; an open erasure shows who would be erased now (looked up live)."""
    people = None
    if case.kind == PrivacyRequest.Kind.ERASURE and case.is_open and case.identifier:
        people = erasure_subjects(identifier=case.identifier, identifier_kind=case.identifier_kind)
    can_carry_out, can_reject = may_carry_out(case, request.user), may_reject(case, request.user)
    context = {
        "case": case,
        "deadline": deadline(case),
        "people": people,
        "can_carry_out": can_carry_out,
        "can_reject": can_reject,
        "can_download": may_download(case, request.user) and pack_available(case),
        "approval_required": approval_required(),
        "confirm": confirm or (CaseConfirmationForm(case=case) if can_carry_out else None),
        "reject": reject or (RejectionForm() if can_reject else None),
        "file_days": settings.PRIVACY_FILE_DAYS,
        "nav": "erasures",
    }
    return render(request, "erasures/request.html", context, status=status)


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
@second_factor_required
def privacy_request_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Shows one privacy request: deadline, status, who handled it, and what can be done next."""
    return _case_page(request, _case(pk))


@permission_required(perm(ERASE), raise_exception=True)
@require_http_methods(["GET", "POST"])
@dangerous_action
def privacy_request_erase_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Carries out an erasure request, or approves and carries it out when two-person approval is on.

    The preparer of a two-person erasure gets 403 here, whatever the page showed them. GET is the case
    page with the confirmation filled in again, where a step-up sign-in brings the user back.
    """
    case = _case(pk)
    if not may_carry_out(case, request.user):
        raise PermissionDenied("You may not carry out this erasure.")
    if request.method == "GET":
        return _case_page(request, case, confirm=CaseConfirmationForm(resumed_post(request), case=case))
    form = CaseConfirmationForm(request.POST, case=case)
    if not form.is_valid():
        return _case_page(request, case, confirm=form, status=400)
    try:
        record = erasure_carry_out(case=case, actor=request.user)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    return _erasure_done(request, record)


@permission_required(perm(ERASE), raise_exception=True)
@require_POST
@dangerous_action(return_to="customers:privacy-request")
def privacy_request_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Rejects an open request with a reason (under two-person approval, not by whoever prepared it)."""
    case = _case(pk)
    if not may_reject(case, request.user):
        raise PermissionDenied("You may not reject this request.")
    form = RejectionForm(request.POST)
    if not form.is_valid():
        return _case_page(request, case, reject=form, status=400)
    privacy_request_reject(case=case, actor=request.user, reason=form.cleaned_data["rejection_reason"])
    messages.success(request, f"Request {case.reference} rejected.")
    return redirect("customers:privacy-request", case.pk)


def _record_view(request: HttpRequest, *, what: str, rows: int | None = None) -> None:
    """A view record ("who looked at whom") where that feature is present."""
    record_view = getattr(audit, "record_view", None)
    if record_view is not None:
        record_view(request, rows=rows, what=what)


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
@second_factor_required
def privacy_request_pack_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Downloads an access request's pack (a zip of data.json and report.html) for the case's handlers."""
    case = _case(pk)
    if not may_download(case, request.user):
        raise PermissionDenied("Only the people handling this request may download its pack.")
    if case.kind != PrivacyRequest.Kind.ACCESS or not pack_available(case):
        raise Http404("No pack to download: it was not made yet, or it was deleted.")
    _record_view(request, what="access request pack download", rows=case.counts.get("customers"))
    response = StreamingHttpResponse(pack_zip_stream(case), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="access-request-{case.pk}.zip"'
    return response


# Erasure records -----------------------------------------------------------------------------------


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
@second_factor_required
def erasure_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Shows one erasure request's case record: who, when, why, and Voucherify's receipt per customer."""
    record = get_object_or_404(ErasureRecord, pk=pk)
    return render(request, "erasures/detail.html", {"record": record, "nav": "erasures"})


@permission_required(perm(ERASE), raise_exception=True)
@require_GET
@second_factor_required
def erasure_evidence_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Downloads one erasure record as JSON evidence for the data protection file."""
    record = get_object_or_404(ErasureRecord, pk=pk)
    _record_view(request, what="erasure evidence download", rows=len(record.receipts))
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
