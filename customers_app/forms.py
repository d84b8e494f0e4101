"""Forms: validate what users type before anything is sent to Voucherify."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from django import forms
from django.http import QueryDict
from django.utils.dateparse import parse_date, parse_datetime

if TYPE_CHECKING:
    from .types import Segment

ORDER_CHOICES = [
    ("", "Newest first"),
    ("created_at", "Oldest first"),
    ("-updated_at", "Recently updated"),
    ("updated_at", "Least recently updated"),
    ("source_id", "Source id A→Z"),
    ("-source_id", "Source id Z→A"),
]
# The API also accepts "-created_at", the same as its default; keep it valid for shared URLs.
VALID_ORDERS = {value for value, _ in ORDER_CHOICES} | {"-created_at"}
CURSOR_ORDERS = {"", "-created_at", "created_at"}  # starting_after is a created_at cursor
PAGE_SIZES = [10, 25, 50, 100]
MAX_PAGE = 99  # Voucherify's page parameter stops here; past it the list continues by cursor


def list_url(base: QueryDict, *, without=(), **changes) -> str:
    """The list's URL with these changes; empty values and the old position are left out."""
    query = QueryDict(mutable=True)
    for key, value in base.items():
        if value and key not in {"page", "starting_after", "ending_before", *without}:
            query[key] = value
    for key, value in changes.items():
        query[key] = str(value)
    return "?" + query.urlencode()


def parse_api_date(value: str) -> date | datetime | None:
    """A plain date or an ISO 8601 date-time, as Voucherify's date filters accept them."""
    value = value.strip()
    try:
        return parse_date(value) or parse_datetime(value)
    except ValueError:
        return None


class ApiDateField(forms.CharField):
    """A date or ISO 8601 date-time; the API receives exactly what the user typed (validated)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", "YYYY-MM-DD or 2025-06-01T10:00:00Z")
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "YYYY-MM-DD", "inputmode": "numeric"}))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value).strip()
        if value and parse_api_date(value) is None:
            raise forms.ValidationError(
                "“%(value)s” is not a date. Use YYYY-MM-DD or an ISO 8601 date-time such as 2025-06-01T10:00:00Z.",
                params={"value": value},
            )
        return value


class CustomerSearchForm(forms.Form):
    """The list's search box: any fragment of a name, email, phone, source id or id (the search index)."""

    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search name, email, phone, source id or id",
        error_messages={"max_length": "Search for at most %(limit_value)d characters."},
    )


class CustomerFilterForm(forms.Form):
    """The customer list's filters; field names are the API's own, so a filtered list is a URL."""

    email = forms.CharField(required=False, max_length=254, label="Email")
    name = forms.CharField(required=False, max_length=200, label="Name")
    city = forms.CharField(required=False, max_length=200, label="City")
    segment_id = forms.ChoiceField(required=False, label="Segment")
    created_at_after = ApiDateField(label="Created after")
    created_at_before = ApiDateField(label="Created before")
    updated_at_after = ApiDateField(label="Updated after")
    updated_at_before = ApiDateField(label="Updated before")
    order = forms.CharField(required=False, label="Order", widget=forms.Select(choices=ORDER_CHOICES))
    limit = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(str(n), str(n)) for n in PAGE_SIZES],
        label="Per page",
        error_messages={"invalid_choice": "Choose 10, 25, 50 or 100 customers per page."},
    )
    page = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PAGE,
        widget=forms.HiddenInput,
        error_messages={
            "min_value": "Pages start at 1.",
            "max_value": "Page numbers stop at 99; use Next to continue past it.",
        },
    )
    starting_after = ApiDateField(widget=forms.HiddenInput, help_text="")
    ending_before = ApiDateField(widget=forms.HiddenInput, help_text="")

    FILTER_FIELDS = (
        "email", "name", "city", "segment_id",
        "created_at_after", "created_at_before", "updated_at_after", "updated_at_before",
    )  # fmt: skip

    DEFAULT_LIMIT = 25

    def __init__(self, data=None, *, segments: Iterable[Segment] | Callable[[], Iterable[Segment]] = (), **kwargs):
        """``segments`` fills the segment menu; given as a function, it is called only once the menu
        is shown or a segment is validated, so the list page sends its own call first."""
        if data is not None and not data.get("limit"):
            data = data.copy()
            data["limit"] = str(self.DEFAULT_LIMIT)  # so the page-size menu shows what is used
        super().__init__(data, **kwargs)
        self._segments = segments
        self.fields["segment_id"].choices = self._segment_choices  # a callable: Django asks it when needed

    @cached_property
    def segment_names(self) -> dict[str, str]:
        segments = self._segments() if callable(self._segments) else self._segments
        return {segment.id: segment.name for segment in segments}

    def _segment_choices(self) -> list[tuple[str, str]]:
        choices = [("", "Any segment"), *self.segment_names.items()]
        # The segment list may be unavailable; a shared URL's segment must still validate.
        if self.data.get("segment_id") and self.data["segment_id"] not in self.segment_names:
            choices.append((self.data["segment_id"], self.data["segment_id"]))
        return choices

    def active_filters(self) -> list[tuple[str, str, str]]:
        """(label, value, URL without it) for each filter in use: the removable chips."""
        chips = []
        for name in self.FILTER_FIELDS:
            value = self.cleaned_data.get(name)
            if value:
                shown = self.segment_names.get(value, value) if name == "segment_id" else value
                chips.append((self.fields[name].label, shown, list_url(self.data, without=[name])))
        return chips

    def clean_order(self):
        order = self.cleaned_data["order"]
        if order not in VALID_ORDERS:
            raise forms.ValidationError("Unknown order. Choose one from the list.")
        return order

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("starting_after") or cleaned.get("ending_before")) and cleaned.get(
            "order", ""
        ) not in CURSOR_ORDERS:
            raise forms.ValidationError("Browsing past page 99 works only when sorted by creation date.")
        return cleaned
