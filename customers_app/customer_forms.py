"""Forms of the customer page: create/edit with a metadata editor, conflict detection, activity filters."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django import forms
from django.core import signing
from django.core.validators import validate_email
from django.utils.dateparse import parse_date, parse_datetime

from .forms import ApiDateField
from .services.voucherify import RequestError
from .types import Customer

# Editable values travel as one flat dict: top-level fields by name, address parts as
# "address.<part>", metadata keys as "metadata.<key>". A flat dict makes "which fields changed"
# and "did two people change the same field" plain set operations, metadata key by key.
TOP_LEVEL_FIELDS = ("name", "email", "phone", "birthdate", "description")
ADDRESS_PARTS = ("line_1", "line_2", "city", "state", "postal_code", "country")
METADATA_PREFIX = "metadata."

LABELS = {
    "name": "Name",
    "email": "Email",
    "phone": "Phone",
    "birthdate": "Birthdate",
    "description": "Description",
    "address.line_1": "Address line 1",
    "address.line_2": "Address line 2",
    "address.city": "City",
    "address.state": "State",
    "address.postal_code": "Postal code",
    "address.country": "Country",
    "source_id": "Source id",
}

METADATA_TYPES = [
    ("text", "Text"),
    ("number", "Number"),
    ("boolean", "True/false"),
    ("date", "Date"),
    ("json", "JSON (nested)"),
]
TRUE_WORDS = {"true", "yes", "1", "on"}
FALSE_WORDS = {"false", "no", "0", "off"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
BASE_SALT = "customers_app.customer_edit.base"


def field_label(name: str) -> str:
    """A person-readable name for a flat field: "City", "Metadata: plan"."""
    if name.startswith(METADATA_PREFIX):
        return f"Metadata: {name.removeprefix(METADATA_PREFIX)}"
    return LABELS.get(name, name)


# Customer create/edit form ----------------------------------------------------------------------


class CustomerForm(forms.Form):
    """The standard fields; ``source_id`` only when creating (Voucherify cannot change it later)."""

    name = forms.CharField(label="Name", max_length=200, required=False)
    # Validated only when changed: Voucherify accepts any string, and an old odd address must not
    # block saving other fields.
    email = forms.CharField(
        label="Email", max_length=254, required=False, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    phone = forms.CharField(
        label="Phone",
        max_length=50,
        required=False,
        help_text="With the country code, e.g. +48 600 100 200.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    birthdate = forms.DateField(
        label="Birthdate",
        required=False,
        input_formats=["%Y-%m-%d"],
        help_text="YYYY-MM-DD",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, e.g. 1990-04-23."},
    )
    description = forms.CharField(
        label="Description", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    address_line_1 = forms.CharField(label="Address line 1", max_length=200, required=False)
    address_line_2 = forms.CharField(label="Address line 2", max_length=200, required=False)
    city = forms.CharField(label="City", max_length=200, required=False)
    state = forms.CharField(label="State", max_length=200, required=False)
    postal_code = forms.CharField(label="Postal code", max_length=20, required=False)
    country = forms.CharField(label="Country", max_length=100, required=False)

    # form field -> flat field
    FLAT_NAMES = {
        "name": "name",
        "email": "email",
        "phone": "phone",
        "birthdate": "birthdate",
        "description": "description",
        "address_line_1": "address.line_1",
        "address_line_2": "address.line_2",
        "city": "address.city",
        "state": "address.state",
        "postal_code": "address.postal_code",
        "country": "address.country",
    }
    ADDRESS_FIELDS = ("address_line_1", "address_line_2", "city", "state", "postal_code", "country")

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.creating = creating
        if creating:
            self.fields["source_id"] = forms.CharField(
                label="Source id",
                max_length=500,
                required=False,
                help_text="Your own id for this customer, e.g. from your shop. It cannot be changed later.",
            )
            # Source id first: it is what identifies the customer.
            self.order_fields(["source_id"])

    def clean_email(self):
        value = self.cleaned_data["email"]
        if value and value != (self.initial.get("email") or ""):
            validate_email(value)
        return value

    @property
    def profile_fields(self):
        return [self[name] for name in ("name", "email", "phone", "birthdate", "description")]

    @property
    def address_fields(self):
        return [self[name] for name in self.ADDRESS_FIELDS]

    def flat_values(self) -> dict[str, Any]:
        """The standard fields as flat values (blank -> None, dates as YYYY-MM-DD)."""
        values: dict[str, Any] = {}
        for form_name, flat in self.FLAT_NAMES.items():
            value = self.cleaned_data.get(form_name)
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, str):
                value = value.strip() or None
            values[flat] = value or None
        return values

    @classmethod
    def initial_from(cls, values: dict[str, Any]) -> dict[str, Any]:
        return {form_name: values.get(flat) or "" for form_name, flat in cls.FLAT_NAMES.items()}


# Metadata editor ------------------------------------------------------------------------------


def metadata_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "date" if ISO_DATE.match(value) else "text"
    return "json"  # objects, arrays and null stay exactly as they are


def metadata_display(value: Any) -> str:
    """How a metadata value reads in a form field: true/false, numbers as typed, JSON for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class MetadataRowForm(forms.Form):
    key = forms.CharField(label="Key", max_length=100, required=False)
    type = forms.ChoiceField(label="Type", choices=METADATA_TYPES, initial="text")
    value = forms.CharField(label="Value", max_length=2000, required=False, strip=False)

    def clean(self):
        cleaned = super().clean()
        key = (cleaned.get("key") or "").strip()
        cleaned["key"] = key
        if not key or cleaned.get("DELETE"):
            return cleaned
        kind = cleaned.get("type") or "text"
        raw = cleaned.get("value") or ""
        try:
            cleaned["parsed"] = parse_metadata_value(kind, raw)
        except ValueError as exc:
            self.add_error("value", str(exc))
        return cleaned


def parse_metadata_value(kind: str, raw: str) -> Any:
    """The typed value for one metadata row; ValueError with a message the user can act on."""
    text = raw.strip()
    if kind == "text":
        return raw
    if kind == "number":
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"“{text}” is not a number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("Enter a finite number.")
        return number
    if kind == "boolean":
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError("Enter true or false.")
    if kind == "date":
        if ISO_DATE.match(text) and parse_date(text):
            return text
        if ISO_DATETIME.match(text) and parse_datetime(text.replace("Z", "+00:00")):
            return text
        raise ValueError("Enter a date as YYYY-MM-DD (or an ISO 8601 date-time).")
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError('Enter valid JSON, e.g. {"tier": "gold"} or [1, 2].') from None
    raise ValueError("Unknown type.")


class BaseMetadataFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        seen: set[str] = set()
        for form in self.forms:
            key = form.cleaned_data.get("key")
            if not key or form.cleaned_data.get("DELETE"):
                continue
            if key in seen:
                form.add_error("key", f"The key “{key}” appears twice.")
            seen.add(key)

    def metadata(self) -> dict[str, Any]:
        return {
            form.cleaned_data["key"]: form.cleaned_data["parsed"]
            for form in self.forms
            if form.cleaned_data.get("key") and not form.cleaned_data.get("DELETE")
        }


MetadataFormSet = forms.formset_factory(
    MetadataRowForm, formset=BaseMetadataFormSet, extra=1, can_delete=True, max_num=200, validate_max=True
)


def metadata_initial(metadata: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"key": key, "type": metadata_type_of(value), "value": metadata_display(value)}
        for key, value in sorted(metadata.items())
    ]


def metadata_formset_with_row_added(data) -> forms.BaseFormSet:
    """The posted formset plus one blank row: the no-JavaScript "Add a key" button."""
    data = data.copy()
    total = int(data.get("metadata-TOTAL_FORMS") or 0)
    data["metadata-TOTAL_FORMS"] = str(total + 1)
    return MetadataFormSet(data, prefix="metadata")


# Flat values, versions and conflicts ---------------------------------------------------------------


class _Missing:
    """A metadata key that is not there (different from a key whose value is null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def customer_values(customer: Customer) -> dict[str, Any]:
    """What the edit form can change, flat: ``{"name": ..., "address.city": ..., "metadata.plan": ...}``."""
    raw = customer.raw
    address = raw.get("address") if isinstance(raw.get("address"), dict) else {}
    values: dict[str, Any] = {}
    for name in TOP_LEVEL_FIELDS:
        values[name] = raw.get(name) or None
    values["birthdate"] = customer.birthdate.isoformat() if customer.birthdate else None
    for part in ADDRESS_PARTS:
        values[f"address.{part}"] = address.get(part) or None
    for key, value in customer.metadata.items():
        values[METADATA_PREFIX + key] = value
    return values


def values_from_forms(form: CustomerForm, formset: BaseMetadataFormSet) -> dict[str, Any]:
    values = form.flat_values()
    for key, value in formset.metadata().items():
        values[METADATA_PREFIX + key] = value
    return values


def values_hash(values: dict[str, Any]) -> str:
    canonical = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def sign_values(values: dict[str, Any]) -> str:
    """The values the form started from, signed so a tampered form is caught (not secret)."""
    return signing.dumps(values, salt=BASE_SALT, compress=True)


def unsign_values(token: str) -> dict[str, Any]:
    """Raises signing.BadSignature when the token was altered."""
    values = signing.loads(token, salt=BASE_SALT)
    if not isinstance(values, dict):
        raise signing.BadSignature("not a dict")
    return values


FIELD_ORDER = {name: index for index, name in enumerate((*TOP_LEVEL_FIELDS, *(f"address.{p}" for p in ADDRESS_PARTS)))}


def field_order(name: str) -> tuple[int, str]:
    """Form order: profile fields, then address, then metadata keys alphabetically."""
    return FIELD_ORDER.get(name, len(FIELD_ORDER)), name


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Fields whose value differs, with the value in ``after`` (MISSING for a removed metadata key)."""
    return {
        name: after.get(name, MISSING)
        for name in sorted(before.keys() | after.keys(), key=field_order)
        if before.get(name, MISSING) != after.get(name, MISSING)
        or type(before.get(name, MISSING)) is not type(after.get(name, MISSING))
    }


@dataclass
class FieldConflict:
    name: str
    base: Any
    theirs: Any
    mine: Any

    @property
    def label(self) -> str:
        return field_label(self.name)


@dataclass
class Merge:
    """Three versions of the editable fields: when the form opened, now upstream, and the user's."""

    base: dict[str, Any]
    theirs: dict[str, Any]
    mine: dict[str, Any]
    my_changes: dict[str, Any] = field(init=False)
    their_changes: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.my_changes = changed_fields(self.base, self.mine)
        self.their_changes = changed_fields(self.base, self.theirs)

    @property
    def conflicts(self) -> list[FieldConflict]:
        """Fields both sides changed, to different values."""
        return [
            FieldConflict(name, self.base.get(name, MISSING), self.theirs.get(name, MISSING), value)
            for name, value in self.my_changes.items()
            if name in self.their_changes and not _same(self.their_changes[name], value)
        ]

    @property
    def applicable(self) -> dict[str, Any]:
        """My changes that do not clash with theirs (a change both made identically needs no write)."""
        return {name: value for name, value in self.my_changes.items() if name not in self.their_changes}

    @property
    def their_only(self) -> dict[str, Any]:
        return {name: value for name, value in self.their_changes.items() if name not in self.my_changes}


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


def update_payload(changes: dict[str, Any], current: Customer) -> dict[str, Any]:
    """The ``CustomerBase`` body for these flat changes: only the changed fields.

    Address parts are sent alone (Voucherify merges address keys; null removes one). Metadata is
    replaced as a whole upstream, so it is the *current* metadata with these keys changed, which
    keeps keys someone else added meanwhile.
    """
    body: dict[str, Any] = {}
    metadata = dict(current.metadata)
    metadata_changed = False
    for name, value in changes.items():
        if name.startswith(METADATA_PREFIX):
            key = name.removeprefix(METADATA_PREFIX)
            metadata_changed = True
            if value is MISSING:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        elif name.startswith("address."):
            body.setdefault("address", {})[name.removeprefix("address.")] = value
        else:
            body[name] = value
    if metadata_changed:
        body["metadata"] = metadata
    return body


def create_payload(values: dict[str, Any], *, source_id: str | None) -> dict[str, Any]:
    """The ``Customer`` body for a new customer: only what was filled in."""
    body: dict[str, Any] = {}
    if source_id:
        body["source_id"] = source_id
    for name in TOP_LEVEL_FIELDS:
        if values.get(name) is not None:
            body[name] = values[name]
    address = {part: values[f"address.{part}"] for part in ADDRESS_PARTS if values.get(f"address.{part}") is not None}
    if address:
        body["address"] = address
    metadata = {
        name.removeprefix(METADATA_PREFIX): value for name, value in values.items() if name.startswith(METADATA_PREFIX)
    }
    if metadata:
        body["metadata"] = metadata
    return body


def display_value(value: Any) -> str:
    """A flat value for the conflict page: "(empty)" for nothing, JSON for non-strings."""
    if value is MISSING or value is None or value == "":
        return "(empty)"
    if isinstance(value, str):
        return value
    return metadata_display(value)


class ConflictForm(forms.Form):
    """One "keep theirs / use mine" choice per conflicting field; the rest rides in signed fields."""

    base = forms.CharField(widget=forms.HiddenInput)  # the values upstream when the conflict was shown
    mine = forms.CharField(widget=forms.HiddenInput)  # what the user wanted
    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, conflicts: list[FieldConflict] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.conflicts = list(conflicts)
        for index, conflict in enumerate(self.conflicts):
            self.fields[f"choice_{index}"] = forms.ChoiceField(
                label=conflict.label,
                choices=[("theirs", "Keep theirs"), ("mine", "Use mine")],
                initial="theirs",
                widget=forms.RadioSelect,
            )

    def rows(self):
        for index, conflict in enumerate(self.conflicts):
            yield conflict, self[f"choice_{index}"]


# Upstream 400s ----------------------------------------------------------------------------------

# Voucherify's 400 details name the property they concern ("birthdate must be a date...",
# "Property .address.city must be a string"). Longer names first so "address.city" beats "city".
API_FIELD_TO_FORM = {
    "address.line_1": "address_line_1",
    "address.line_2": "address_line_2",
    "address.postal_code": "postal_code",
    "address.country": "country",
    "address.state": "state",
    "address.city": "city",
    "postal_code": "postal_code",
    "source_id": "source_id",
    "birthdate": "birthdate",
    "birthday": "birthdate",
    "description": "description",
    "email": "email",
    "phone": "phone",
    "name": "name",
}


def field_for_request_error(exc: RequestError, form: forms.Form) -> str | None:
    """The form field a Voucherify 400 is about, if its key or details say so."""
    text = " ".join(part for part in (exc.details, exc.key, exc.message) if isinstance(part, str))
    for api_name, form_name in API_FIELD_TO_FORM.items():
        if form_name in form.fields and re.search(rf"(?<![\w.]){re.escape(api_name)}(?!\w)", text):
            return form_name
    return None


def add_request_error(form: forms.Form, exc: RequestError) -> str | None:
    """Puts Voucherify's refusal on the field it concerns (else on the form), with the request id."""
    reason = exc.details or exc.message or "Voucherify refused the request."
    request_id = f" (request {exc.request_id})" if exc.request_id else ""
    target = field_for_request_error(exc, form)
    if target is None and "metadata" in (exc.details or "") + (exc.key or ""):
        reason = f"Metadata: {reason}"
    form.add_error(target, f"Voucherify rejected this: {reason}{request_id}")
    return target


# Activity filters ---------------------------------------------------------------------------------

ACTIVITY_CATEGORIES = [("", "Any category"), ("ACTION", "Actions"), ("EFFECT", "Effects")]
CAMPAIGN_TYPES = [
    ("", "Any campaign type"),
    ("DISCOUNT_COUPONS", "Discount coupons"),
    ("GIFT_VOUCHERS", "Gift vouchers"),
    ("LOYALTY_PROGRAM", "Loyalty program"),
    ("PROMOTION", "Promotion"),
    ("REFERRAL_PROGRAM", "Referral program"),
]
# The API's ParameterCustomerEvent enum: the event names /activity can filter by.
ACTIVITY_EVENT_TYPES = (
    "customer.confirmed", "customer.created", "customer.updated", "customer.deleted", "customer.referred",
    "customer.custom_event", "customer.segment.entered", "customer.segment.left",
    "customer.sms.sent", "customer.sms.recovered", "customer.sms.failed",
    "customer.email.sent", "customer.email.recovered", "customer.email.failed",
    "customer.activecampaign.sent", "customer.activecampaign.recovered", "customer.activecampaign.failed",
    "customer.braze.sent", "customer.braze.recovered", "customer.braze.failed",
    "customer.mailchimp.sent", "customer.mailchimp.recovered", "customer.mailchimp.failed",
    "customer.intercom.sent", "customer.intercom.recovered", "customer.intercom.failed",
    "customer.shopify.sent", "customer.shopify.recovered", "customer.shopify.failed",
    "customer.klaviyo.sent", "customer.klaviyo.recovered", "customer.klaviyo.failed",
    "customer.batch.sent", "customer.batch.recovered", "customer.batch.failed",
    "customer.rewarded", "customer.rewarded.loyalty_points",
    "customer.voucher.gift.balance_added", "customer.voucher.loyalty_card.points_added",
    "customer.voucher.loyalty_card.points_transferred", "customer.voucher.loyalty_card.points_expired",
    "customer.voucher.deleted", "customer.publication.succeeded", "customer.publication.failed",
    "customer.validation.succeeded", "customer.validation.failed",
    "customer.redemption.failed", "customer.redemption.succeeded",
    "customer.redemption.rollback.failed", "customer.redemption.rollback.succeeded",
    "customer.order.canceled", "customer.order.created", "customer.order.fulfilled", "customer.order.paid",
    "customer.order.processing", "customer.order.updated",
    "customer.reward_redemptions.created", "customer.reward_redemptions.pending",
    "customer.reward_redemptions.completed", "customer.reward_redemptions.rolledback",
    "customer.loyalty.updated", "customer.loyalty.tier.upgraded", "customer.loyalty.tier.downgraded",
    "customer.loyalty.tier.prolonged", "customer.loyalty.tier.expiration.changed",
    "customer.loyalty.tier.joined", "customer.loyalty.tier.left",
)  # fmt: skip


# Names that read better than the mechanical "customer.x.y" -> "X y".
EVENT_NAMES = {
    "customer.confirmed": "Customer confirmed",
    "customer.created": "Customer created",
    "customer.updated": "Customer updated",
    "customer.deleted": "Customer deleted",
    "customer.referred": "Customer referred",
    "customer.custom_event": "Custom event",
    "customer.segment.entered": "Entered segment",
    "customer.segment.left": "Left segment",
    "customer.rewarded": "Rewarded",
    "customer.rewarded.loyalty_points": "Rewarded loyalty points",
    "customer.voucher.gift.balance_added": "Gift card balance added",
    "customer.voucher.loyalty_card.points_added": "Loyalty points added",
    "customer.voucher.loyalty_card.points_transferred": "Loyalty points transferred",
    "customer.voucher.loyalty_card.points_expired": "Loyalty points expired",
    "customer.voucher.deleted": "Voucher deleted",
    "customer.publication.succeeded": "Voucher published",
    "customer.publication.failed": "Voucher publication failed",
    "customer.validation.succeeded": "Validation succeeded",
    "customer.validation.failed": "Validation failed",
    "customer.redemption.succeeded": "Redemption succeeded",
    "customer.redemption.failed": "Redemption failed",
    "customer.redemption.rollback.succeeded": "Redemption rolled back",
    "customer.redemption.rollback.failed": "Redemption rollback failed",
}


def event_label(event_type: str) -> str:
    """A readable event name: ``customer.voucher.deleted`` -> "Voucher deleted"."""
    if event_type in EVENT_NAMES:
        return EVENT_NAMES[event_type]
    name = event_type.removeprefix("customer.").replace(".", " ").replace("_", " ").strip()
    return (name[:1].upper() + name[1:]) or "Event"


class ActivityFilterForm(forms.Form):
    """The Activity tab's filters; names are the API's, so a filtered tab is a shareable URL."""

    category = forms.ChoiceField(label="Category", choices=ACTIVITY_CATEGORIES, required=False)
    type = forms.ChoiceField(
        label="Event",
        choices=[("", "Any event")] + [(name, event_label(name)) for name in ACTIVITY_EVENT_TYPES],
        required=False,
    )
    campaign_type = forms.ChoiceField(label="Campaign type", choices=CAMPAIGN_TYPES, required=False)
    start_date = ApiDateField(label="From", help_text="")
    end_date = ApiDateField(label="To", help_text="")
    starting_after_id = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    FILTER_FIELDS = ("category", "type", "campaign_type", "start_date", "end_date")

    def filters(self) -> dict[str, str | None]:
        return {name: self.cleaned_data.get(name) or None for name in self.FILTER_FIELDS}

    def is_filtered(self) -> bool:
        return any(self.filters().values())


class CursorForm(forms.Form):
    """Just the ``starting_after_id`` cursor (Redeemables tab)."""

    starting_after_id = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
