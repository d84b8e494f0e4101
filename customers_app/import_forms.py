"""Forms for the import wizard, bulk updates and export."""

from __future__ import annotations

from django import forms

from .csv_import import (
    DELIMITER_CHOICES,
    ENCODING_CHOICES,
    MAX_UPLOAD_BYTES,
    METADATA,
    METADATA_KEY,
    SKIP,
    STANDARD_FIELDS,
    ColumnMapping,
    mapping_problems,
)

TARGET_CHOICES = [
    ("Standard fields", [(name, f"{label} ({name})") for name, label in STANDARD_FIELDS.items()]),
    ("Other", [(METADATA, "Metadata key…"), (SKIP, "Skip this column")]),
]


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Up to 10 MB. Comma, semicolon or tab separated; UTF-8, Windows-1250 or Windows-1252.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                "The file is larger than 10 MB, Voucherify's limit. Split it into smaller files."
            )
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload


class MappingForm(forms.Form):
    """One target and metadata key per column, plus the encoding and separator used to read the file."""

    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, label="Encoding")
    delimiter = forms.ChoiceField(choices=DELIMITER_CHOICES, label="Separator")

    def __init__(self, *args, headers: list[str], mapping: list[ColumnMapping], samples=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = headers
        self.samples = samples or {}
        for index, (header, mapped) in enumerate(zip(headers, mapping, strict=True)):
            self.fields[f"target_{index}"] = forms.ChoiceField(
                choices=TARGET_CHOICES, initial=mapped.target, label=header or f"Column {index + 1}"
            )
            self.fields[f"key_{index}"] = forms.CharField(
                required=False, max_length=100, initial=mapped.metadata_key, label="Metadata key"
            )

    def columns(self):
        """(header, target field, key field, sample values) per column, for the template."""
        return [
            (self.headers[i], self[f"target_{i}"], self[f"key_{i}"], self.samples.get(i, []))
            for i in range(len(self.headers))
        ]

    def mapping(self) -> list[ColumnMapping]:
        result = []
        for index in range(len(self.headers)):
            target = self.cleaned_data[f"target_{index}"]
            key = (self.cleaned_data.get(f"key_{index}") or "").strip()
            result.append(ColumnMapping(target, key if target == METADATA else ""))
        return result

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        for index in range(len(self.headers)):
            if cleaned[f"target_{index}"] == METADATA and not (cleaned.get(f"key_{index}") or "").strip():
                self.add_error(f"key_{index}", "Give the metadata key this column becomes.")
        if not self.errors:
            for problem in mapping_problems(self.mapping()):
                self.add_error(None, problem)
        return cleaned


BULK_FIELDS = {
    "name": "Name",
    "email": "Email",
    "phone": "Phone",
    "birthdate": "Birthdate",
    "description": "Description",
    "address_line_1": "Address line 1",
    "address_line_2": "Address line 2",
    "address_city": "City",
    "address_state": "State",
    "address_postal_code": "Postal code",
    "address_country": "Country",
}
METADATA_ROWS = 3


class BulkUpdateForm(forms.Form):
    """What to set on every selected customer: standard fields (left blank = unchanged) and metadata.

    Its fields are prefixed ("set-name"): the selection "all matching this filter" travels in the
    same query, and the list's filters use the plain names (``name``, ``email``).
    """

    prefix = "set"

    name = forms.CharField(required=False, max_length=200)
    email = forms.EmailField(required=False)
    phone = forms.CharField(required=False, max_length=50)
    birthdate = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    description = forms.CharField(required=False, max_length=1000)
    address_line_1 = forms.CharField(required=False, max_length=200, label="Address line 1")
    address_line_2 = forms.CharField(required=False, max_length=200, label="Address line 2")
    address_city = forms.CharField(required=False, max_length=100, label="City")
    address_state = forms.CharField(required=False, max_length=100, label="State")
    address_postal_code = forms.CharField(required=False, max_length=20, label="Postal code")
    address_country = forms.CharField(required=False, max_length=100, label="Country")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for index in range(METADATA_ROWS):
            self.fields[f"meta_key_{index}"] = forms.CharField(required=False, max_length=100, label="Metadata key")
            self.fields[f"meta_value_{index}"] = forms.CharField(required=False, max_length=500, label="Value")

    def field_rows(self):
        return [self[name] for name in BULK_FIELDS]

    def metadata_rows(self):
        return [(self[f"meta_key_{i}"], self[f"meta_value_{i}"]) for i in range(METADATA_ROWS)]

    def field_changes(self) -> dict[str, str]:
        """Standard fields to set, by form name; blank ones are left as they are."""
        changes = {}
        for name in BULK_FIELDS:
            value = self.cleaned_data.get(name)
            if value not in (None, ""):
                changes[name] = value.isoformat() if hasattr(value, "isoformat") else str(value).strip()
        return changes

    def metadata_changes(self) -> dict[str, str]:
        metadata = {}
        for index in range(METADATA_ROWS):
            key = (self.cleaned_data.get(f"meta_key_{index}") or "").strip()
            if key:
                metadata[key] = self.cleaned_data.get(f"meta_value_{index}") or ""
        return metadata

    def clean(self):
        cleaned = super().clean()
        for index in range(METADATA_ROWS):
            key = (cleaned.get(f"meta_key_{index}") or "").strip()
            if key and not METADATA_KEY.match(key):
                self.add_error(f"meta_key_{index}", "Use letters, digits, “_”, “-” or “.” (no spaces).")
            if not key and (cleaned.get(f"meta_value_{index}") or "").strip():
                self.add_error(f"meta_key_{index}", "Give the key this value is stored under.")
        if not self.errors and not self.field_changes() and not self.metadata_changes():
            raise forms.ValidationError("Choose at least one field or metadata key to set.")
        return cleaned


EXPORT_COLUMNS = {
    "Id": STANDARD_FIELDS["Id"],
    **{header: label for header, label in STANDARD_FIELDS.items() if header != "Id"},
    "Metadata": "Metadata (JSON)",
    "Created_at": "Created",
    "Updated_at": "Updated",
}


class ExportColumnsForm(forms.Form):
    columns = forms.MultipleChoiceField(
        choices=list(EXPORT_COLUMNS.items()),
        widget=forms.CheckboxSelectMultiple,
        initial=list(EXPORT_COLUMNS),
        label="Columns",
        error_messages={"required": "Choose at least one column."},
    )
