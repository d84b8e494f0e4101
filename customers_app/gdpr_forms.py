"""Forms for the dangerous and the legal: typed confirmations, erasure requests, guard overrides, audit filters."""

from __future__ import annotations

import re

from django import forms
from django.utils import timezone

from .audit import AuditFilters
from .models import AuditEntry, ErasureRecord, PrivacyRequest


def confirmation_value(customer) -> tuple[str, str]:
    """What the user must type to confirm, and what it is called: the email, or the id when there is none."""
    if customer.email:
        return customer.email, "email"
    return customer.id, "id"


def requester_field() -> forms.ChoiceField:
    """Who made a privacy request (a kind, never a name): the same field on every GDPR form."""
    return forms.ChoiceField(
        choices=[("", "Choose who made the request"), *ErasureRecord.Requester.choices],
        label="Requested by",
        help_text="Who asked. Their name and contact details stay in your ticketing system, not here.",
    )


class TypedConfirmationForm(forms.Form):
    """Acts only when the user has typed the customer's email (or id) exactly; case does not matter for emails."""

    confirmation = forms.CharField(max_length=254, strip=True)

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected, self.expected_kind = confirmation_value(customer)
        field = self.fields["confirmation"]
        field.label = f"Type the customer's {self.expected_kind} to confirm"
        field.help_text = f"Type {self.expected} exactly."
        field.widget.attrs.update({"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"})

    def clean_confirmation(self) -> str:
        typed = self.cleaned_data["confirmation"]
        if self.expected_kind == "email":
            matches = typed.casefold() == self.expected.strip().casefold()
        else:
            matches = typed == self.expected
        if not matches:
            raise forms.ValidationError(
                f"That is not the customer's {self.expected_kind}. Nothing was changed. "
                f"Type {self.expected} to confirm."
            )
        return typed


class EraseForm(TypedConfirmationForm):
    """An erasure request: the case reference, who asked, why, and the typed confirmation.

    The record is kept after the person is gone, so these fields must not carry their personal
    data; values containing the person's email, name or source id are refused.
    """

    reference = forms.CharField(
        max_length=100,
        label="Request reference",
        help_text="The ticket or case number of the erasure request, e.g. GDPR-2025-0142.",
    )
    requester = requester_field()
    requester_reference = forms.CharField(
        max_length=100,
        required=False,
        label="Requester reference (optional)",
        help_text="An id from your ticketing or CRM system for the requester. Not a name or email.",
    )
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Reason",
        help_text="Why the data is erased, e.g. “Right to erasure, GDPR art. 17(1)(a)”. No personal details.",
    )

    field_order = ["reference", "requester", "requester_reference", "reason", "confirmation"]

    def __init__(self, *args, customer, personal_values: list[str] = (), **kwargs):
        super().__init__(*args, customer=customer, **kwargs)
        self.fields["confirmation"].label = f"Type the {self.expected_kind} to confirm the erasure"
        # Short values (a one-letter name) would match everything; they identify no one anyway.
        values = {v.strip().casefold() for v in personal_values if v and len(v.strip()) >= 4}
        # Whole words only, so a name like "Anna" does not refuse "annual review".
        self.personal_patterns = [re.compile(rf"(?<!\w){re.escape(value)}(?!\w)") for value in sorted(values)]

    def clean(self):
        cleaned = super().clean()
        for name in ("reference", "requester_reference", "reason"):
            value = (cleaned.get(name) or "").casefold()
            if value and any(pattern.search(value) for pattern in self.personal_patterns):
                self.add_error(
                    name,
                    "Leave the person's name, email and source id out: this record is kept after they are erased.",
                )
        return cleaned


def _personal_patterns(values) -> list[re.Pattern]:
    # Short values (a one-letter name) would match everything; they identify no one anyway.
    folded = {v.strip().casefold() for v in values if v and len(v.strip()) >= 4}
    # Whole words only, so a name like "Anna" does not refuse "annual review".
    return [re.compile(rf"(?<!\w){re.escape(value)}(?!\w)") for value in sorted(folded)]


PERSONAL_DATA_ERROR = "Leave the person's name, email and source id out: this record is kept after they are erased."


class PrivacyRequestForm(forms.Form):
    """A new privacy request: what is asked, who the person is (for the lookup only), who asked, when.

    The identifier is kept on the case only while it is open (see ``PrivacyRequest``); the other
    fields stay for good, so they must not hold it.
    """

    kind = forms.ChoiceField(
        choices=PrivacyRequest.Kind.choices,
        widget=forms.RadioSelect,
        label="What is asked",
        initial=PrivacyRequest.Kind.ACCESS,
    )
    identifier_kind = forms.ChoiceField(
        choices=PrivacyRequest.IdentifierKind.choices,
        label="Find the person by",
        initial=PrivacyRequest.IdentifierKind.EMAIL,
    )
    identifier = forms.CharField(
        max_length=254,
        label="Email, customer id or source id",
        help_text="Used to find every customer record of the person, also one Voucherify no longer shows. "
        "Kept only until the request is answered.",
    )
    reference = forms.CharField(
        max_length=32,
        required=False,
        label="Request reference (optional)",
        help_text="Your case number, e.g. GDPR-2025-0142. Left empty, the dashboard gives one (PR-…).",
    )
    requester = requester_field()
    requester_reference = forms.CharField(
        max_length=100,
        required=False,
        label="Ticket id (optional)",
        help_text="The request's id in your ticketing or CRM system. Not a name or email.",
    )
    received_on = forms.DateField(
        label="Received on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The answer is due a month later.",
    )
    reason = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Legal basis or note",
        help_text="Required for an erasure, e.g. “Right to erasure, GDPR art. 17(1)(a)”. No personal details.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["received_on"].initial = timezone.localdate()
        for name in ("identifier", "reference", "requester_reference"):
            self.fields[name].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})

    def clean_identifier(self) -> str:
        value = self.cleaned_data["identifier"].strip()
        if not value:
            raise forms.ValidationError("Type the person's email, customer id or source id.")
        return value

    def clean_received_on(self):
        value = self.cleaned_data["received_on"]
        if value > timezone.localdate():
            raise forms.ValidationError("The request cannot have been received in the future.")
        return value

    def clean_reference(self) -> str:
        value = self.cleaned_data["reference"].strip()
        if value and PrivacyRequest.objects.filter(reference=value).exists():
            raise forms.ValidationError("A request with this reference exists already. Choose another one.")
        return value

    def clean(self):
        cleaned = super().clean()
        kind, identifier = cleaned.get("kind"), cleaned.get("identifier") or ""
        by_email = cleaned.get("identifier_kind") == PrivacyRequest.IdentifierKind.EMAIL
        if by_email and identifier and "@" not in identifier:
            self.add_error("identifier", "That is not an email address. Choose “customer id” or “source id” instead.")
        if kind == PrivacyRequest.Kind.ERASURE and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "Say why the data is erased (the legal basis).")
        patterns = _personal_patterns([identifier])
        for name in ("reference", "requester_reference", "reason"):
            value = (cleaned.get(name) or "").casefold()
            if value and any(pattern.search(value) for pattern in patterns):
                self.add_error(name, PERSONAL_DATA_ERROR)
        return cleaned


class CaseConfirmationForm(forms.Form):
    """Carrying out or approving an erasure: the user types the case's identifier (an email ignoring case)."""

    confirmation = forms.CharField(max_length=254, strip=True)

    def __init__(self, *args, case: PrivacyRequest, **kwargs):
        super().__init__(*args, **kwargs)
        self.case = case
        field = self.fields["confirmation"]
        field.label = f"Type the {case.get_identifier_kind_display().lower()} to confirm the erasure"
        field.help_text = f"Type {case.identifier} exactly."
        field.widget.attrs.update({"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"})

    def clean_confirmation(self) -> str:
        typed, expected = self.cleaned_data["confirmation"], self.case.identifier.strip()
        if self.case.identifier_kind == PrivacyRequest.IdentifierKind.EMAIL:
            matches = typed.casefold() == expected.casefold()
        else:
            matches = typed == expected
        if not expected or not matches:
            raise forms.ValidationError(f"That is not it. Nothing was erased. Type {expected} to confirm.")
        return typed


class RejectionForm(forms.Form):
    rejection_reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Reason for rejecting",
        help_text="For example: the requester's identity could not be verified (ticket 4411). No personal details.",
    )


class GuardOverrideForm(forms.Form):
    """An administrator's reason for bringing back someone who was erased (audited)."""

    erasure_override_reason = forms.CharField(
        max_length=500,
        label="Reason for overriding the erasure guard",
        help_text="For example: the person signed up again on 2025-06-01 (ticket 4411). This is audited.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Actor (username)")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditEntry.Action.choices])
    customer = forms.CharField(required=False, max_length=255, label="Customer id")
    outcome = forms.ChoiceField(required=False, choices=[("", "Any outcome"), *AuditEntry.Outcome.choices])
    date_from = forms.DateField(
        required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}), help_text="YYYY-MM-DD"
    )
    date_to = forms.DateField(
        required=False,
        label="To (UTC, inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="YYYY-MM-DD",
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def filters(self) -> AuditFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return AuditFilters(
            actor=data.get("actor", ""),
            action=data.get("action", ""),
            customer=data.get("customer", ""),
            outcome=data.get("outcome", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )

    def active(self) -> bool:
        return self.is_valid() and any(self.cleaned_data.values())
