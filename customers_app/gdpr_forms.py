"""Forms for the dangerous and the legal: typed confirmations, erasure requests, guard overrides, audit filters."""

from __future__ import annotations

import re

from django import forms

from .audit import AuditFilters
from .models import AuditEntry, ErasureRecord


def confirmation_value(customer) -> tuple[str, str]:
    """What the user must type to confirm, and what it is called: the email, or the id when there is none."""
    if customer.email:
        return customer.email, "email"
    return customer.id, "id"


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
    requester = forms.ChoiceField(
        choices=[("", "Choose who made the request"), *ErasureRecord.Requester.choices],
        label="Requested by",
        help_text="Who asked. Their name and contact details stay in your ticketing system, not here.",
    )
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
