"""Reads customer CSV files as people export them: detects encoding, delimiter and header, maps
columns to Voucherify's import headers, validates every row and writes the clean file to send.

Uploads and sent files live in the dashboard's database (``ImportFile``), never on local disk, so
any app server behind the load balancer can carry on the wizard. The upload (at most 10 MB) is the
one thing held in memory; everything else streams from it (``csv`` over a text wrapper over
``io.BytesIO``), so memory stays flat whatever the row count: only the set of source ids seen
grows with the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO

from django.db import transaction
from django.utils import timezone

from .models import ImportFile

logger = logging.getLogger("customers_app.csv_import")

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # Voucherify's limit for importCSV
SAMPLE_BYTES = 64 * 1024
UPLOAD_MAX_AGE_SECONDS = 24 * 60 * 60
# Sent files back the jobs' "Download rejected rows"; Voucherify keeps its reports for a week.
SENT_MAX_AGE_SECONDS = 7 * 24 * 60 * 60
PREVIEW_ROWS = 10
MAX_SHOWN_ERRORS = 200

# Voucherify's standard import headers, in the order the clean file lists them.
STANDARD_FIELDS: dict[str, str] = {
    "Source_id": "Source id",
    "Id": "Voucherify id",
    "Name": "Name",
    "Email": "Email",
    "Phone": "Phone",
    "Birthdate": "Birthdate",
    "Description": "Description",
    "Address_line_1": "Address line 1",
    "Address_line_2": "Address line 2",
    "Address_Postal_Code": "Postal code",
    "Address_City": "City",
    "Address_State": "State",
    "Address_Country": "Country",
}
SKIP = "skip"
METADATA = "metadata"

# Header spellings seen in CRM and spreadsheet exports, normalised by ``_normalise_header``.
HEADER_ALIASES: dict[str, str] = {
    **{name.lower(): name for name in STANDARD_FIELDS},
    "source id": "Source_id", "sourceid": "Source_id", "external_id": "Source_id", "external id": "Source_id",
    "customer_id": "Source_id", "customer id": "Source_id",
    "full name": "Name", "full_name": "Name", "fullname": "Name", "customer name": "Name",
    "e-mail": "Email", "e_mail": "Email", "mail": "Email", "email address": "Email", "email_address": "Email",
    "phone number": "Phone", "phone_number": "Phone", "telephone": "Phone", "tel": "Phone", "mobile": "Phone",
    "birthday": "Birthdate", "date of birth": "Birthdate", "date_of_birth": "Birthdate", "dob": "Birthdate",
    "birth date": "Birthdate", "birth_date": "Birthdate",
    "address": "Address_line_1", "street": "Address_line_1", "address line 1": "Address_line_1",
    "address_1": "Address_line_1", "address1": "Address_line_1", "line_1": "Address_line_1",
    "address line 2": "Address_line_2", "address_2": "Address_line_2", "address2": "Address_line_2",
    "line_2": "Address_line_2",
    "postal code": "Address_Postal_Code", "postal_code": "Address_Postal_Code", "postcode": "Address_Postal_Code",
    "zip": "Address_Postal_Code", "zip code": "Address_Postal_Code", "zip_code": "Address_Postal_Code",
    "city": "Address_City", "town": "Address_City", "address city": "Address_City",
    "state": "Address_State", "region": "Address_State", "province": "Address_State",
    "country": "Address_Country", "address country": "Address_Country",
    "notes": "Description", "note": "Description", "comment": "Description",
}  # fmt: skip

EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
DOTTED_DATE = re.compile(r"^(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})$")
METADATA_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")

ENCODING_CHOICES = [
    ("utf-8", "UTF-8"),
    ("utf-8-sig", "UTF-8 with byte-order mark"),
    ("cp1250", "Windows-1250 (Central European)"),
    ("cp1252", "Windows-1252 (Western European)"),
    ("iso-8859-2", "ISO-8859-2 (Latin-2)"),
    ("latin-1", "ISO-8859-1 (Latin-1)"),
    ("utf-16", "UTF-16"),
]
DELIMITER_CHOICES = [(",", "Comma"), (";", "Semicolon"), ("\t", "Tab"), ("|", "Pipe")]
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or an Excel workbook (.xlsx). Save it as CSV first",
    b"\xd0\xcf\x11\xe0": "an old Excel or Word file (.xls/.doc). Save it as CSV first",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}


class CsvFileError(Exception):
    """The file cannot be imported at all; the message says why, for the person who uploaded it."""


# ---------------------------------------------------------------------------------------------
# Sources: a CSV file's bytes (as kept in the database) or, for scripts, a path on disk

Source = bytes | Path


def _open(source: Source) -> IO[bytes]:
    """A binary stream over the file; ``io.BytesIO`` shares the bytes rather than copying them."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    return Path(source).open("rb")


def _size(source: Source) -> int:
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    return Path(source).stat().st_size


# ---------------------------------------------------------------------------------------------
# Uploads and sent files in the database


def _as_bytes(value) -> bytes:
    """BinaryField values come back as bytes (SQLite) or memoryview (PostgreSQL)."""
    return value if isinstance(value, bytes) else bytes(value)


def _parse_token(token) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(token))
    except (TypeError, ValueError, AttributeError):
        return None


def _owner(user):
    return user if getattr(user, "is_authenticated", False) else None


def upload_read(uploaded: IO[bytes]) -> bytes:
    """The uploaded file's bytes (the caller has checked it is at most 10 MB)."""
    if hasattr(uploaded, "seek"):
        uploaded.seek(0)
    content = uploaded.read()
    return content if isinstance(content, bytes) else bytes(content)


def upload_store(*, owner, file_name: str, content: bytes, state: dict) -> ImportFile:
    """Keeps an upload between the wizard's steps; old uploads and sent files are removed on the way."""
    import_files_cleanup()
    return ImportFile.objects.create(
        owner=_owner(owner),
        kind=ImportFile.Kind.UPLOAD,
        file_name=file_name[:255],
        size=len(content),
        content=content,
        state=state,
    )


def _uploads_of(owner, token):
    parsed = _parse_token(token)
    owner = _owner(owner)
    if parsed is None or owner is None:
        return ImportFile.objects.none()
    cutoff = timezone.now() - timedelta(seconds=UPLOAD_MAX_AGE_SECONDS)
    return ImportFile.objects.filter(token=parsed, owner=owner, kind=ImportFile.Kind.UPLOAD, created_at__gte=cutoff)


def upload_get(token, *, owner) -> ImportFile | None:
    """The owner's upload for a token, without its content; None for anyone else's, an old one or none."""
    return _uploads_of(owner, token).defer("content").first()


def upload_content(upload: ImportFile) -> bytes:
    """The upload's bytes, read from the database when needed."""
    value = ImportFile.objects.filter(pk=upload.pk).values_list("content", flat=True).first()
    return _as_bytes(value) if value is not None else b""


def upload_delete(token, *, owner) -> None:
    """Deletes the owner's upload for a token (nothing happens for anybody else's)."""
    _uploads_of(owner, token).only("pk").delete()


def sent_store(*, owner, file_name: str, content: bytes) -> ImportFile:
    """Keeps the clean file sent to Voucherify, for the job's rejected-rows download."""
    return ImportFile.objects.create(
        owner=_owner(owner),
        kind=ImportFile.Kind.SENT,
        file_name=file_name[:255],
        size=len(content),
        content=content,
    )


def sent_files_live():
    """Sent files still within their 7 days (older ones are due for deletion)."""
    cutoff = timezone.now() - timedelta(seconds=SENT_MAX_AGE_SECONDS)
    return ImportFile.objects.filter(kind=ImportFile.Kind.SENT, created_at__gte=cutoff)


def import_files_cleanup(
    *, upload_max_age: float = UPLOAD_MAX_AGE_SECONDS, sent_max_age: float = SENT_MAX_AGE_SECONDS
) -> dict[str, int]:
    """Deletes wizard uploads older than 24 hours (abandoned) and sent files older than 7 days.

    Called on the way by the wizard and the job list, and by ``manage.py purge_import_files``.
    Returns how many of each kind were deleted.
    """
    now = timezone.now()
    deleted = {}
    for kind, age in ((ImportFile.Kind.UPLOAD, upload_max_age), (ImportFile.Kind.SENT, sent_max_age)):
        old = ImportFile.objects.filter(kind=kind, created_at__lt=now - timedelta(seconds=age))
        # Only the ids are loaded (never the contents); jobs lose their link (SET_NULL).
        _count, per_model = old.only("pk").delete()
        deleted[str(kind)] = per_model.get(ImportFile._meta.label, 0)
    return deleted


def _normalise(value: str | None) -> str:
    return (value or "").strip().lower()


def _person_columns(headers: list[str], mapping: list[ColumnMapping] | None) -> list[int]:
    """The columns holding emails or source ids: by mapping for uploads, by header for sent files."""
    if mapping is not None and len(mapping) == len(headers):
        return [i for i, mapped in enumerate(mapping) if mapped.target in ("Email", "Source_id")]
    return [i for i, header in enumerate(headers) if header in ("Email", "Source_id")]


def _mentions(content: bytes, fmt: CsvFormat, mapping: list[ColumnMapping] | None, wanted: set[str]) -> bool:
    """Whether any row's email or source id (either column: emails are often used as source ids) is wanted."""
    columns = _person_columns(fmt.headers, mapping)
    if not columns:
        return False
    try:
        for _line, cells in _rows(content, fmt):
            if any(index < len(cells) and _normalise(cells[index]) in wanted for index in columns):
                return True
    except (csv.Error, UnicodeError, LookupError):
        # Unreadable as stored: keep nothing we cannot check.
        return True
    return False


def import_files_purge_person(*, emails: Iterable[str] = (), source_ids: Iterable[str] = ()) -> int:
    """Deletes the import files (sent files and uploads in progress) that contain an erased person's
    email or source id, so no copy of them stays in the dashboard. Returns how many were deleted.

    Reads one file at a time, so memory stays at one file (10 MB at most) whatever their number.
    """
    wanted = {_normalise(value) for value in [*emails, *source_ids]} - {""}
    if not wanted:
        return 0
    doomed = []
    for pk, kind, state in list(ImportFile.objects.values_list("pk", "kind", "state")):
        value = ImportFile.objects.filter(pk=pk).values_list("content", flat=True).first()
        if value is None:
            continue
        content = _as_bytes(value)
        if kind == ImportFile.Kind.SENT:
            fmt = CsvFormat(encoding="utf-8", delimiter=",", headers=_first_row(content, "utf-8", ","))
            mapping = None
        else:
            try:
                fmt = CsvFormat(encoding=state["encoding"], delimiter=state["delimiter"], headers=state["headers"])
                mapping = mapping_from_data(state["mapping"])
            except (KeyError, TypeError, ValueError):
                doomed.append(pk)  # no state to read it with: cannot tell, so it goes
                continue
        if _mentions(content, fmt, mapping, wanted):
            doomed.append(pk)
        del content, value
    if doomed:
        with transaction.atomic():
            ImportFile.objects.filter(pk__in=doomed).only("pk").delete()
        logger.info("erasure: deleted %d import file(s) holding the erased person", len(doomed))
    return len(doomed)


def _first_row(content: bytes, encoding: str, delimiter: str) -> list[str]:
    try:
        with _open(content) as handle, _text_reader(handle, encoding) as text:
            return [cell.replace("\ufeff", "").strip() for cell in next(csv.reader(text, delimiter=delimiter), [])]
    except (csv.Error, UnicodeError):
        return []


# ---------------------------------------------------------------------------------------------
# Detection

# How typical each non-ASCII letter is in names and addresses written in each code page's
# languages. A Czech "ř" read as Windows-1252 becomes a rare "ø", a Polish "ł" becomes "³"; the
# reading with the more typical letters wins. Anything not listed counts 0.1 if it is a letter and
# -2 if not (symbols inside words are the surest sign of a wrong code page).
_LETTER_WEIGHTS = {
    "cp1250": dict.fromkeys("áéíóúýčěřšžůąćęłńśżöüä", 1.0)
    | dict.fromkeys("ďňťźőľ", 0.5)
    | dict.fromkeys("űôşç", 0.3),
    "cp1252": dict.fromkeys("éèàäçöüñßáíóúåêëâ", 1.0)
    | dict.fromkeys("øæîôãšžœ", 0.5)
    | dict.fromkeys("ùûõï", 0.3)
    | dict.fromkeys("ìòÿ", 0.2),
}


def _code_page_score(text: str, encoding: str) -> float:
    weights = _LETTER_WEIGHTS[encoding]
    score = 0.0
    for char in text:
        if char < "\x80":
            continue
        if char.isalpha():
            lower = char.lower()
            weight = weights.get(lower, 0.1)
            # Capitals like "È" or "Ì" start few names; "Č" and "Ł" start many.
            score += weight if char == lower or weight >= 1.0 else weight * 0.5
        else:
            score -= 2.0
    return score


def _is_utf8(source: Source) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with _open(source) as handle:
            while chunk := handle.read(65536):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(source: Source, sample: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 by BOM, else the likelier of Windows-1250 and -1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _is_utf8(source):
        return "utf-8"
    scores = {}
    for encoding in ("cp1252", "cp1250"):
        try:
            scores[encoding] = _code_page_score(sample.decode(encoding, errors="strict"), encoding)
        except UnicodeDecodeError:
            continue
    if scores:
        return max(scores, key=lambda name: scores[name])
    try:  # charset-normalizer for anything else (e.g. ISO-8859-2, Cyrillic code pages)
        from charset_normalizer import from_bytes

        best = from_bytes(sample).best()
    except Exception:  # noqa: BLE001 - detection is best effort; Latin-1 decodes anything
        best = None
    return best.encoding if best else "latin-1"


def _check_not_binary(sample: bytes) -> None:
    for signature, what in BINARY_SIGNATURES.items():
        if sample.startswith(signature):
            raise CsvFileError(f"This file is {what}, not a CSV file.")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13))
    if b"\x00" in sample or controls > max(8, len(sample) // 100):
        raise CsvFileError("This is not a CSV file: it contains binary data. Export the data as CSV and try again.")


def detect_delimiter(text_sample: str) -> str:
    """``csv.Sniffer`` on the first lines, falling back to the most frequent candidate in the header."""
    lines = [line for line in text_sample.splitlines() if line.strip()][:20]
    candidates = ",;\t|"
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=candidates)
        if dialect.delimiter in candidates:
            return dialect.delimiter
    except csv.Error:
        pass
    header = lines[0] if lines else ""
    counts = {candidate: header.count(candidate) for candidate in candidates}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


@dataclass
class CsvFormat:
    encoding: str
    delimiter: str
    headers: list[str]


def _text_reader(handle: IO[bytes], encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(handle, encoding=encoding, errors="replace", newline="")


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    return bool(
        EMAIL.match(cell)
        or re.fullmatch(r"[\d\s+().\-/:]+", cell) and any(ch.isdigit() for ch in cell)
    )


def detect_format(source: Source, *, encoding: str | None = None, delimiter: str | None = None) -> CsvFormat:
    """Reads the start of the file and checks it can be imported at all.

    Raises CsvFileError for a file that is too big, empty, binary, headerless, has duplicate or
    no column names, or has no data rows.
    """
    size = _size(source)
    if size > MAX_UPLOAD_BYTES:
        raise CsvFileError("The file is larger than 10 MB, Voucherify's limit. Split it into smaller files.")
    if size == 0:
        raise CsvFileError("The file is empty.")
    with _open(source) as handle:
        sample = handle.read(SAMPLE_BYTES)
    _check_not_binary(sample)
    encoding = encoding or detect_encoding(source, sample)
    text_sample = sample.decode(encoding, errors="replace").lstrip("\ufeff")
    if not text_sample.strip():
        raise CsvFileError("The file is empty: it has no column names and no rows.")
    delimiter = delimiter or detect_delimiter(text_sample)
    with _open(source) as handle, _text_reader(handle, encoding) as text:
        reader = csv.reader(text, delimiter=delimiter)
        header = None
        widths: list[int] = []
        try:
            for cells in reader:
                if header is None:
                    if any(cell.strip() for cell in cells):
                        header = cells
                    continue
                if any(cell.strip() for cell in cells):
                    widths.append(len(cells))
                    if len(widths) >= 20:
                        break
        except csv.Error as error:
            raise CsvFileError(f"The file is not a readable CSV file ({error}).") from error
    if header is None:
        raise CsvFileError("The file is empty: it has no column names and no rows.")
    headers = [cell.replace("\ufeff", "").strip() for cell in header]
    named = [h for h in headers if h]
    if len(headers) < 2 and _normalise_header(headers[0]) not in HEADER_ALIASES:
        raise CsvFileError(
            "Only one column was found. The file may not be a CSV file, or it uses a separator "
            "other than comma, semicolon or tab."
        )
    if named and sum(_looks_like_data(h) for h in named) * 2 >= len(named):
        raise CsvFileError(
            "The first row looks like customer data, not column names. Add a header row "
            "(for example Source_id,Name,Email) and upload again."
        )
    seen: dict[str, str] = {}
    duplicates = []
    for name in named:
        key = name.lower()
        if key in seen:
            duplicates.append(name)
        seen.setdefault(key, name)
    if duplicates:
        listed = ", ".join(f"“{d}”" for d in dict.fromkeys(duplicates))
        raise CsvFileError(f"Column names must be unique; this file repeats {listed}. Rename or remove the copies.")
    if not widths:
        raise CsvFileError("The file has column names but no customer rows.")
    if sum(width != len(headers) for width in widths) * 2 > len(widths):
        raise CsvFileError(
            "This does not look like a CSV file: most rows have a different number of cells than the "
            f"header's {len(headers)} columns. Check the separator, or export the data as CSV again."
        )
    return CsvFormat(encoding=encoding, delimiter=delimiter, headers=headers)


# ---------------------------------------------------------------------------------------------
# Mapping


def _normalise_header(header: str) -> str:
    return " ".join(header.strip().lower().replace("\ufeff", "").split())


def metadata_key_for(header: str) -> str:
    """A metadata key from a column name: Voucherify forbids spaces, so they become underscores."""
    key = re.sub(r"\s+", "_", header.strip())
    key = re.sub(r"[^A-Za-z0-9_.\-]", "", key)
    return key.strip("_") or "column"


@dataclass(frozen=True)
class ColumnMapping:
    """Where one column goes: a standard header, a metadata key, or nowhere (``SKIP``)."""

    target: str  # a STANDARD_FIELDS key, METADATA or SKIP
    metadata_key: str = ""

    @property
    def output_header(self) -> str | None:
        if self.target == SKIP:
            return None
        return self.metadata_key if self.target == METADATA else self.target


def auto_mapping(headers: list[str]) -> list[ColumnMapping]:
    """Standard fields by name (case, spaces and common aliases ignored), the rest as metadata."""
    mapping: list[ColumnMapping] = []
    used: set[str] = set()
    for header in headers:
        if not header.strip():
            mapping.append(ColumnMapping(SKIP))
            continue
        normalised = _normalise_header(header)
        standard = HEADER_ALIASES.get(normalised) or HEADER_ALIASES.get(normalised.replace(" ", "_"))
        if standard and standard not in used:
            used.add(standard)
            mapping.append(ColumnMapping(standard))
        else:
            mapping.append(ColumnMapping(METADATA, metadata_key_for(header)))
    return mapping


def mapping_problems(mapping: list[ColumnMapping]) -> list[str]:
    """What makes a mapping unusable: a field chosen twice, a bad or repeated metadata key."""
    problems = []
    seen: dict[str, int] = {}
    for mapped in mapping:
        header = mapped.output_header
        if header is None:
            continue
        if mapped.target == METADATA and not METADATA_KEY.match(mapped.metadata_key):
            problems.append(
                f"Metadata key “{mapped.metadata_key}” may only use letters, digits, “_”, “-” and “.” (no spaces)."
            )
        if mapped.target == METADATA and mapped.metadata_key.lower() in {f.lower() for f in STANDARD_FIELDS}:
            problems.append(
                f"Metadata key “{mapped.metadata_key}” is a standard field name; choose that field instead."
            )
        seen[header.lower()] = seen.get(header.lower(), 0) + 1
    problems += [f"“{header}” is chosen for more than one column." for header, count in seen.items() if count > 1]
    if not any(m.output_header for m in mapping):
        problems.append("Every column is skipped; choose at least one to import.")
    return problems


def mapping_to_data(mapping: list[ColumnMapping]) -> list[list[str]]:
    return [[m.target, m.metadata_key] for m in mapping]


def mapping_from_data(data: list) -> list[ColumnMapping]:
    return [ColumnMapping(target, key) for target, key in data]


def output_headers(mapping: list[ColumnMapping]) -> list[str]:
    """The clean file's header: standard fields in Voucherify's order, then metadata keys in file order."""
    standard = [name for name in STANDARD_FIELDS if any(m.target == name for m in mapping)]
    metadata = [m.metadata_key for m in mapping if m.target == METADATA]
    return standard + metadata


# ---------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    value: str
    message: str


@dataclass
class Preview:
    rows_read: int = 0
    valid: int = 0
    invalid: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first MAX_SHOWN_ERRORS
    error_count: int = 0
    headers: list[str] = field(default_factory=list)
    first_rows: list[list[str]] = field(default_factory=list)
    metadata_keys: list[str] = field(default_factory=list)
    with_source_id: int = 0
    seconds: float = 0.0


def _clean_birthdate(value: str) -> str:
    """An ISO date from ``YYYY-MM-DD`` or ``D.M.YYYY``; ValueError for anything else or impossible dates."""
    dotted = DOTTED_DATE.match(value)
    if dotted:
        day, month, year = (int(part) for part in dotted.groups())
        return date(year, month, day).isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("use YYYY-MM-DD")
    return date.fromisoformat(value).isoformat()


def _rows(source: Source, fmt: CsvFormat) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, cells) for each record after the header row."""
    with _open(source) as handle, _text_reader(handle, fmt.encoding) as text:
        reader = csv.reader(text, delimiter=fmt.delimiter)
        header_seen = False
        line = 1
        for cells in reader:
            start = line
            line = reader.line_num + 1
            if not header_seen:
                if any(cell.strip() for cell in cells):
                    header_seen = True
                continue
            yield start, cells


BLOOM_BITS = 1 << 21  # 256 KiB: about 0.3 % false candidates at 100,000 distinct source ids


def _source_id_cells(source: Source, fmt: CsvFormat, column: int) -> Iterator[tuple[int, str]]:
    """(line, source id) of each row that validation would read (not empty, not ragged)."""
    width = len(fmt.headers)
    for line, cells in _rows(source, fmt):
        if len(cells) == width and any(cell.strip() for cell in cells):
            value = cells[column].strip()
            if value:
                yield line, value


def repeated_source_ids(source: Source, fmt: CsvFormat, mapping: list[ColumnMapping]) -> dict[str, int]:
    """Source ids that stand on more than one row, each with the line where it first appears.

    Memory stays flat whatever the number of rows: a fixed-size Bloom filter picks the candidates
    in one pass (every real repeat, plus a few false alarms), and a second pass over the file
    keeps the candidates that really repeat.
    """
    column = next((i for i, m in enumerate(mapping) if m.target == "Source_id"), None)
    if column is None:
        return {}
    bits = bytearray(BLOOM_BITS // 8)
    mask = BLOOM_BITS - 1
    candidates: set[str] = set()
    for _line, value in _source_id_cells(source, fmt, column):
        digest = hash(value)
        slots = [(digest >> shift) & mask for shift in (0, 21, 42)]
        if all(bits[slot >> 3] & (1 << (slot & 7)) for slot in slots):
            candidates.add(value)
        for slot in slots:
            bits[slot >> 3] |= 1 << (slot & 7)
    if not candidates:
        return {}
    first_line: dict[str, int] = {}
    repeated: set[str] = set()
    for line, value in _source_id_cells(source, fmt, column):
        if value in candidates:
            if value in first_line:
                repeated.add(value)
            else:
                first_line[value] = line
    return {value: first_line[value] for value in repeated}


def validate_rows(
    source: Source, fmt: CsvFormat, mapping: list[ColumnMapping]
) -> Iterator[tuple[int, list[str] | None, list[RowError]]]:
    """Each data record as (line, the clean output row or None, its errors), streaming.

    Errors: ragged rows, empty rows, malformed emails, impossible birthdates, source ids repeated
    in the file and rows with nothing to import.
    """
    headers = output_headers(mapping)
    position = {header: index for index, header in enumerate(headers)}
    width = len(fmt.headers)
    repeated = repeated_source_ids(source, fmt, mapping)
    try:
        for line, cells in _rows(source, fmt):
            if not any(cell.strip() for cell in cells):
                yield line, None, [RowError(line, "", "", "Empty row")]
                continue
            if len(cells) != width:
                shown = fmt.delimiter.join(cells)
                message = f"Row has {len(cells)} cells but the header has {width} columns"
                yield line, None, [RowError(line, "", shown[:120], message)]
                continue
            row = [""] * len(headers)
            errors: list[RowError] = []
            for mapped, raw in zip(mapping, cells, strict=True):
                out = mapped.output_header
                if out is None:
                    continue
                value = raw.strip()
                if not value:
                    continue
                if mapped.target == "Email" and not EMAIL.match(value):
                    errors.append(RowError(line, out, value, "Malformed email address"))
                elif mapped.target == "Birthdate":
                    try:
                        value = _clean_birthdate(value)
                    except ValueError:
                        errors.append(RowError(line, out, value, "Not a real date (use YYYY-MM-DD)"))
                elif mapped.target == "Source_id" and repeated.get(value, line) != line:
                    message = f"Duplicate source id: already on line {repeated[value]}"
                    errors.append(RowError(line, out, value, message))
                row[position[out]] = value if mapped.target == METADATA else value
            if not errors and not any(row):
                errors.append(RowError(line, "", "", "Nothing to import: every mapped cell is empty"))
            yield line, (None if errors else row), errors
    except csv.Error as error:
        raise CsvFileError(f"The file stopped being a readable CSV file ({error}).") from error


def build_preview(source: Source, fmt: CsvFormat, mapping: list[ColumnMapping]) -> Preview:
    """The dry run: counts, errors by line and the first rows exactly as they will be sent."""
    started = time.perf_counter()
    headers = output_headers(mapping)
    preview = Preview(headers=headers, metadata_keys=[m.metadata_key for m in mapping if m.target == METADATA])
    source_column = headers.index("Source_id") if "Source_id" in headers else None
    for _line, row, errors in validate_rows(source, fmt, mapping):
        preview.rows_read += 1
        if row is None:
            preview.invalid += 1
            preview.error_count += len(errors)
            room = MAX_SHOWN_ERRORS - len(preview.errors)
            if room > 0:
                preview.errors.extend(errors[:room])
            continue
        preview.valid += 1
        if source_column is not None and row[source_column]:
            preview.with_source_id += 1
        if len(preview.first_rows) < PREVIEW_ROWS:
            preview.first_rows.append(row)
    preview.seconds = time.perf_counter() - started
    return preview


class CleanFileTooBig(CsvFileError):
    """Converted to UTF-8 the clean file would pass Voucherify's 10 MB limit."""


def write_clean_csv(
    source: Source,
    fmt: CsvFormat,
    mapping: list[ColumnMapping],
    destination: IO[bytes],
    *,
    max_bytes: int | None = MAX_UPLOAD_BYTES,
) -> int:
    """Writes the valid rows as UTF-8, comma-separated, standard headers; returns how many rows.

    Raises CleanFileTooBig as soon as the output passes ``max_bytes``, so it never grows past that.
    """
    count = 0
    written = 0
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\r\n")

    def emit(cells: list[str]) -> None:
        nonlocal written
        writer.writerow(cells)
        data = line.getvalue().encode("utf-8")
        line.seek(0)
        line.truncate()
        written += len(data)
        if max_bytes is not None and written > max_bytes:
            raise CleanFileTooBig("Converted to UTF-8 the file is larger than 10 MB. Split it and import the parts.")
        destination.write(data)

    emit(output_headers(mapping))
    for _line, row, _errors in validate_rows(source, fmt, mapping):
        if row is not None:
            emit(row)
            count += 1
    return count


def template_csv() -> str:
    """A small example file with every standard header and one metadata column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*STANDARD_FIELDS, "loyalty_level"])
    writer.writerow([
        "crm-000123", "", "Jana Nováková", "jana.novakova@example.com", "+420 601 123 456", "1988-04-17",
        "Prefers email", "Vinohradská 12", "", "120 00", "Praha", "", "CZ", "gold",
    ])  # fmt: skip
    return buffer.getvalue()


def sample_values(source: Source, fmt: CsvFormat, count: int = 3) -> dict[int, list[str]]:
    """The first few non-empty values of each column, to help the person mapping it."""
    samples: dict[int, list[str]] = {index: [] for index in range(len(fmt.headers))}
    try:
        for seen, (_line, cells) in enumerate(_rows(source, fmt)):
            if seen >= 50:
                break
            for index, cell in enumerate(cells[: len(fmt.headers)]):
                if cell.strip() and len(samples[index]) < count:
                    samples[index].append(cell.strip()[:60])
    except csv.Error:
        pass
    return samples
