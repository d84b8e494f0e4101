"""Creating and editing a customer without overwriting someone else's customer or someone else's edits."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import get_text_list
from django.views.decorators.http import require_http_methods

from ..audit import Action, audit_changes, audited
from ..customer_forms import (
    MISSING,
    ConflictForm,
    CustomerForm,
    FieldConflict,
    Merge,
    MetadataFormSet,
    add_request_error,
    create_payload,
    customer_values,
    display_value,
    field_label,
    metadata_formset_with_row_added,
    metadata_initial,
    sign_values,
    unsign_values,
    update_payload,
    values_from_forms,
    values_hash,
)
from ..roles import ADD, CHANGE, perm
from ..search.index import index_customer
from ..services.customers import customer_create, customer_get, customer_list, customer_update
from ..services.voucherify import NotFound, RequestError
from ..types import Customer
from .common import customer_not_found
from .erasure import guard_response

FORM_TEMPLATE = "customers/form.html"
ADD_ROW_BUTTON = "add_metadata_row"
CONFIRM_DUPLICATE_EMAIL = "confirm_duplicate_email"
NOT_REPOSTED = {"csrfmiddlewaretoken", CONFIRM_DUPLICATE_EMAIL, ADD_ROW_BUTTON}


def _labels(names) -> str:
    return get_text_list([field_label(name) for name in names], "and")


def _version_of(customer: Customer) -> str:
    return str(customer.raw.get("updated_at") or "")


def _form_page(request: HttpRequest, *, form, formset, customer: Customer | None, status: int = 200, **extra):
    context = {"form": form, "formset": formset, "customer": customer, "nav": "customers", **extra}
    return render(request, FORM_TEMPLATE, context, status=status)


# Create ------------------------------------------------------------------------------------------


@permission_required(perm(ADD), raise_exception=True)
@require_http_methods(["GET", "POST"])
def customer_create_view(request: HttpRequest) -> HttpResponse:
    """Lets a user add a customer, but never by silently changing one that has that source id or email."""
    if request.method == "GET":
        form = CustomerForm(creating=True)
        formset = MetadataFormSet(prefix="metadata")
        return _form_page(request, form=form, formset=formset, customer=None)

    form = CustomerForm(request.POST, creating=True)
    if ADD_ROW_BUTTON in request.POST:
        formset = metadata_formset_with_row_added(request.POST)
        return _form_page(request, form=form, formset=formset, customer=None, adding_row=True)
    formset = MetadataFormSet(request.POST, prefix="metadata")
    if not (form.is_valid() and formset.is_valid()):
        return _form_page(request, form=form, formset=formset, customer=None, status=400)

    values = values_from_forms(form, formset)
    source_id = form.cleaned_data["source_id"] or None
    # Someone who was erased (GDPR) comes back only with an administrator's reason, which is audited.
    stopped = guard_response(request, email=values.get("email"), source_id=source_id)
    if stopped is not None:
        return stopped
    # Voucherify's create is an upsert: look first, so an existing customer is never overwritten.
    if source_id:
        try:
            existing = customer_get(customer_id=source_id)
        except NotFound:
            existing = None
        if existing is not None:
            return _exists_page(request, reason="source_id", value=source_id, customers=[existing])
    if values.get("email") and CONFIRM_DUPLICATE_EMAIL not in request.POST:
        same_email = customer_list(email=values["email"], limit=20).customers
        if same_email:
            return _exists_page(request, reason="email", value=values["email"], customers=same_email)

    try:
        changes = audit_changes({}, {"source_id": source_id, **values})
        with audited(actor=request.user, action=Action.CREATE, target_id=source_id or "", changes=changes) as audit:
            customer = customer_create(data=create_payload(values, source_id=source_id))
            audit.customer(customer)
        index_customer(customer)
    except RequestError as exc:
        add_request_error(form, exc)
        return _form_page(request, form=form, formset=formset, customer=None, status=400)
    messages.success(request, f"Created customer {customer.display_name}.")
    return redirect("customers:detail", customer.id)


def _exists_page(request: HttpRequest, *, reason: str, value: str, customers: list[Customer]) -> HttpResponse:
    """The customers the new one would collide with; "create anyway" only for a shared email."""
    posted = [(name, item) for name, items in request.POST.lists() if name not in NOT_REPOSTED for item in items]
    context = {
        "reason": reason,
        "value": value,
        "matches": customers,
        "posted": posted,
        "allow_create_anyway": reason == "email",
        "confirm_name": CONFIRM_DUPLICATE_EMAIL,
        "nav": "customers",
    }
    return render(request, "customers/exists.html", context, status=409)


# Edit ----------------------------------------------------------------------------------------------


def _edit_tokens(values: dict[str, Any], version: str) -> dict[str, str]:
    """Hidden fields that tell a later save what the form started from."""
    return {"base": sign_values(values), "fingerprint": values_hash(values), "version": version}


@permission_required(perm(CHANGE), raise_exception=True)
@require_http_methods(["GET", "POST"])
def customer_edit_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Lets an agent change a customer's details without undoing what a colleague saved meanwhile."""
    if request.method == "POST" and request.POST.get("step") == "resolve":
        return _resolve_conflict(request, customer_id)
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        return customer_not_found(request, customer_id, exc)

    if request.method == "GET":
        values = customer_values(customer)
        form = CustomerForm(initial=CustomerForm.initial_from(values))
        formset = MetadataFormSet(prefix="metadata", initial=metadata_initial(customer.metadata))
        tokens = _edit_tokens(values, _version_of(customer))
        return _form_page(request, form=form, formset=formset, customer=customer, tokens=tokens)

    tokens = {name: request.POST.get(name, "") for name in ("base", "fingerprint", "version")}
    try:
        base = unsign_values(tokens["base"])
    except signing.BadSignature:
        base = None
    form = CustomerForm(request.POST, initial=CustomerForm.initial_from(base or customer_values(customer)))
    if ADD_ROW_BUTTON in request.POST:
        formset = metadata_formset_with_row_added(request.POST)
        return _form_page(request, form=form, formset=formset, customer=customer, tokens=tokens, adding_row=True)
    formset = MetadataFormSet(request.POST, prefix="metadata")
    if base is None:
        # A form whose starting point cannot be trusted cannot be merged safely: start again.
        messages.error(request, "The form was damaged or is too old to save. Here is the latest version.")
        return redirect("customers:edit", customer.id)
    if not (form.is_valid() and formset.is_valid()):
        return _form_page(request, form=form, formset=formset, customer=customer, tokens=tokens, status=400)
    mine = values_from_forms(form, formset)
    try:
        return _save(request, customer=customer, base=base, fingerprint=tokens["fingerprint"], mine=mine)
    except RequestError as exc:
        add_request_error(form, exc)
        return _form_page(request, form=form, formset=formset, customer=customer, tokens=tokens, status=400)


def _save(
    request: HttpRequest, *, customer: Customer, base: dict[str, Any], fingerprint: str, mine: dict[str, Any]
) -> HttpResponse:
    """Sends only what the user changed since ``base``; if the customer changed meanwhile, merges.

    ``customer`` was just re-read. Changes to different fields are combined automatically (their
    fields stay as they are, the user's are sent). Fields both sides changed differently go to the
    conflict page, after the user's other changes have been saved.
    """
    theirs = customer_values(customer)
    unchanged_upstream = values_hash(theirs) == fingerprint
    merge = Merge(base=base, theirs=base if unchanged_upstream else theirs, mine=mine)
    if not merge.my_changes:
        messages.info(request, "Nothing to save: no field was changed.")
        return redirect("customers:detail", customer.id)
    if unchanged_upstream:
        changes = merge.my_changes
        with audited(actor=request.user, action=Action.EDIT, customer=customer, changes=audit_changes(theirs, changes)):
            index_customer(customer_update(customer_id=customer.id, changes=update_payload(changes, customer)))
        messages.success(request, f"Saved changes to {_labels(changes)}.")
        return redirect("customers:detail", customer.id)

    conflicts = merge.conflicts
    applied = merge.applicable
    if applied:
        with audited(actor=request.user, action=Action.EDIT, customer=customer, changes=audit_changes(theirs, applied)):
            customer = customer_update(customer_id=customer.id, changes=update_payload(applied, customer))
            index_customer(customer)
    if not conflicts:
        kept = merge.their_only
        saved = f"Saved your changes to {_labels(applied)}." if applied else "Nothing else needed saving."
        others = ""
        if kept:
            others = f" Someone else changed {_labels(kept)} while you were editing; their changes were kept."
        same = set(merge.my_changes) - set(applied)
        if same:
            others += f" {_labels(same)} already had the value you chose."
        messages.warning(request, saved + others)
        return redirect("customers:detail", customer.id)
    return _conflict_page(request, customer=customer, merge=merge, conflicts=conflicts, applied=applied)


def _conflict_page(
    request: HttpRequest,
    *,
    customer: Customer,
    merge: Merge,
    conflicts: list[FieldConflict],
    applied: dict[str, Any],
) -> HttpResponse:
    current = customer_values(customer)
    # What the user still wants on the conflicting fields, on top of what is there now.
    wanted = dict(current)
    for conflict in conflicts:
        if conflict.mine is MISSING:
            wanted.pop(conflict.name, None)
        else:
            wanted[conflict.name] = conflict.mine
    form = ConflictForm(
        initial={"base": sign_values(current), "mine": sign_values(wanted), "version": _version_of(customer)},
        conflicts=conflicts,
    )
    context = {
        "customer": customer,
        "form": form,
        "rows": [
            {
                "conflict": conflict,
                "choice": choice,
                "base": display_value(conflict.base),
                "theirs": display_value(conflict.theirs),
                "mine": display_value(conflict.mine),
            }
            for conflict, choice in form.rows()
        ],
        "applied": [(field_label(name), display_value(value)) for name, value in applied.items()],
        "kept": [(field_label(name), display_value(value)) for name, value in merge.their_only.items()],
        "nav": "customers",
    }
    return render(request, "customers/conflict.html", context, status=409)


def _resolve_conflict(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Applies the user's "keep theirs / use mine" choices, checking again for newer changes."""
    try:
        base = unsign_values(request.POST.get("base", ""))
        wanted = unsign_values(request.POST.get("mine", ""))
    except signing.BadSignature:
        messages.error(request, "The conflict form was damaged. Here is the latest version to edit again.")
        return redirect("customers:edit", customer_id)
    conflicts = [
        FieldConflict(name, base.get(name, MISSING), base.get(name, MISSING), value)
        for name, value in Merge(base=base, theirs=base, mine=wanted).my_changes.items()
    ]
    form = ConflictForm(request.POST, conflicts=conflicts)
    if not form.is_valid():
        messages.error(request, "Choose which version to keep for every field.")
        return redirect("customers:edit", customer_id)
    mine = dict(base)
    for conflict, choice in form.rows():
        if form.cleaned_data[choice.name] == "mine":
            if conflict.mine is MISSING:
                mine.pop(conflict.name, None)
            else:
                mine[conflict.name] = conflict.mine
    if mine == base:
        messages.info(request, f"Kept the other version of {_labels(c.name for c in conflicts)}.")
        return redirect("customers:detail", customer_id)
    try:
        customer = customer_get(customer_id=customer_id)
    except NotFound as exc:
        return customer_not_found(request, customer_id, exc)
    try:
        return _save(request, customer=customer, base=base, fingerprint=values_hash(base), mine=mine)
    except RequestError as exc:
        request_id = f" (request {exc.request_id})" if exc.request_id else ""
        messages.error(request, f"Voucherify rejected the change: {exc.details or exc.message}{request_id}")
        return redirect("customers:edit", customer.id)
