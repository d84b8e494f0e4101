"""Customer exports (``POST /v1/exports``): the create body checked, its filters as a ``Q`` on customers, the CSV
written on a background thread into the sandbox's export storage, and exports left by a stopped process run again.

Choices where Voucherify's documentation is silent:

- Text conditions ignore case, Unicode included: both sides are lowered the way the ``*_lower`` columns are
  (SQLite's own ``LOWER`` and ``LIKE`` fold ASCII only, so other columns go through ``sandbox_lower``).
- A value is missing when it is absent, null or the empty string. Missing values match ``$is_unknown`` and
  nothing else: ``$is_not``, ``$not_in`` and ``$not_contain`` keep only customers that have a value.
- Metadata compares by JSON value: ``5`` is not ``"5"`` and ``true`` is not ``1``.
- Without ``order`` customers come oldest first (``created_at``); ties go by id in the same direction, and
  ``name``/``email`` sort case-insensitively (missing values first when ascending).
- Downloading an export that is not ``DONE`` (or whose file is gone) is a 404 naming its status.
"""

from __future__ import annotations

import contextlib
import csv
import hmac
import io
import json
import logging
import os
import re
import secrets
import string
import threading
from datetime import date, datetime, timedelta
from functools import reduce

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import connections, transaction
from django.db.backends.signals import connection_created
from django.db.models import CharField, F, FloatField, Func, Q, Value
from django.db.models.fields.json import KT
from django.db.models.lookups import (
    Contains,
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    StartsWith,
)

from sandbox import background
from sandbox.api import ApiError, bad_payload, iso, now, parse_datetime
from sandbox.models import Customer, Export
from sandbox.routers import SANDBOX_DB
from sandbox.services import ADDRESS_FIELDS

logger = logging.getLogger(__name__)

CUSTOMER = "customer"
DEFAULT_FIELDS = ("name", "source_id")
DEFAULT_ORDER = "created_at"
CHUNK_SIZE = 2000

_ALNUM = string.ascii_letters + string.digits
# Like Voucherify's queue, exports run one after another (per process).
_queue = threading.Lock()

_REDEMPTIONS = ("total_redeemed", "total_failed", "total_succeeded", "total_rolled_back", "total_rollback_failed",
                "total_rollback_succeeded")  # fmt: skip
_ORDERS = ("total_amount", "total_count", "average_amount", "last_order_amount", "last_order_date")

# Export field -> the column, or the path into a JSON column, that fills its CSV cells.
FIELDS: dict[str, str | tuple[str, ...]] = {
    "name": "name",
    "id": "id",
    "description": "description",
    "email": "email",
    "source_id": "source_id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "phone": "phone",
    "birthdate": "birthdate",
    "birthday": "birthdate",
    **{f"address_{key}": ("address", key) for key in ADDRESS_FIELDS},
    **{f"redemptions_{key}": ("summary", "redemptions", key) for key in _REDEMPTIONS},
    **{f"orders_{key}": ("summary", "orders", key) for key in _ORDERS},
    "loyalty_points": ("loyalty", "points"),
    "loyalty_referred_customers": ("loyalty", "referred_customers"),
    "metadata": "metadata",
}

ORDERS = {
    "name": "name_lower",
    "id": "id",
    "email": "email_lower",
    "source_id": "source_id",
    "created_at": "created_at",
    "updated_at": "updated_at",
}

TEXT_OPERATORS = frozenset(
    ("$is", "$is_not", "$in", "$not_in", "$contains", "$not_contain", "$starts_with", "$ends_with", "$has_value",
     "$is_unknown")
)  # fmt: skip
COMPARISONS = frozenset(("$more_than", "$less_than", "$more_than_equal", "$less_than_equal"))
DATE_OPERATORS = frozenset(("$after", "$before", "$is", "$has_value", "$is_unknown")) | COMPARISONS
METADATA_OPERATORS = TEXT_OPERATORS | COMPARISONS | {"$after", "$before"}
# Operators of Voucherify's FiltersCondition this sandbox does not evaluate: a 400, never a condition ignored.
UNSUPPORTED_OPERATORS = frozenset(
    ("$is_days_ago", "$is_days_in_future", "$more_than_ago", "$less_than_ago", "$more_than_future",
     "$less_than_future", "$count", "$count_less", "$count_more")
)  # fmt: skip
_VALUELESS = frozenset(("$has_value", "$is_unknown"))
_LISTS = frozenset(("$in", "$not_in"))
_NEGATIVE = {"$is_not": "$is", "$not_in": "$in", "$not_contain": "$contains"}
_PATTERNS = {"$contains": Contains, "$starts_with": StartsWith, "$ends_with": EndsWith}
_ORDERINGS = {
    "$after": GreaterThan,
    "$more_than": GreaterThan,
    "$before": LessThan,
    "$less_than": LessThan,
    "$more_than_equal": GreaterThanOrEqual,
    "$less_than_equal": LessThanOrEqual,
}
# Filter field -> column; ``birthday`` is the deprecated name of ``birthdate``.
DATE_FIELDS = {"created_at": "created_at", "updated_at": "updated_at", "birthdate": "birthdate",
               "birthday": "birthdate"}  # fmt: skip
_LOWERED = {"email": "email_lower", "name": "name_lower", "city": "city_lower", "address.city": "city_lower"}


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def _register_functions(connection) -> None:
    if connection.vendor == "sqlite" and connection.connection is not None:
        connection.connection.create_function("sandbox_lower", 1, _lower, deterministic=True)


def _on_connection_created(sender, connection, **kwargs) -> None:
    _register_functions(connection)


connection_created.connect(_on_connection_created, dispatch_uid="sandbox.exports.sandbox_lower")


def ready_connection() -> None:
    """Makes this thread's sandbox connection able to run export filters (it may predate this module)."""
    connection = connections[SANDBOX_DB]
    connection.ensure_connection()
    _register_functions(connection)


class Fold(Func):
    """Lower case as Python's ``str.lower`` does it, the way the ``*_lower`` columns are filled."""

    function = "LOWER"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="sandbox_lower", **extra)


def new_export_id() -> str:
    """``exp_`` and 24 alphanumerics, like Voucherify's export ids (``sandbox.api.new_id`` has no ``exp_``)."""
    return "exp_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


# ---------------------------------------------------------------------------------------------------------------
# The create body


def clean_parameters(body) -> dict:
    """The ``parameters`` of a create body, checked and with the defaults filled in (as echoed back).

    Raises ``ApiError`` 400: ``invalid_export_fields`` for an unknown field, ``invalid_payload`` otherwise.
    """
    if not isinstance(body, dict):
        raise bad_payload("The body must be a JSON object")
    for key in body:
        if key not in ("exported_object", "parameters"):
            raise bad_payload(f"Property .{key} is not allowed")
    exported = body.get("exported_object")
    if exported is None:
        raise bad_payload("Property .exported_object is required")
    if exported != CUSTOMER:
        raise bad_payload(
            "Property .exported_object should be equal to one of the allowed values [ customer ] "
            f"(the sandbox exports customers only), got {json.dumps(exported)}"
        )
    parameters = body.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise bad_payload("Property .parameters must be an object")
    for key in parameters:
        if key not in ("fields", "order", "filters", "response_format"):
            raise bad_payload(f"Property .parameters.{key} is not supported for customer exports")
    clean = {
        "order": _clean_order(parameters.get("order")),
        "fields": _clean_fields(parameters.get("fields")),
        "filters": clean_filters(parameters.get("filters")),
    }
    if "response_format" in parameters:
        if parameters["response_format"] != "CSV":
            raise bad_payload("Property .parameters.response_format must be CSV")
        clean["response_format"] = "CSV"
    return clean


def _clean_fields(fields) -> list[str]:
    if fields is None or fields == []:
        return list(DEFAULT_FIELDS)
    if not isinstance(fields, list) or not all(isinstance(field, str) for field in fields):
        raise bad_payload("Property .parameters.fields must be an array of strings")
    for field in fields:
        if field not in FIELDS:
            raise ApiError(
                400,
                "invalid_export_fields",
                "Invalid Export",
                f"Unsupported field used: {field}. Allowed fields: {', '.join(FIELDS)}",
            )
    repeated = next((field for index, field in enumerate(fields) if field in fields[:index]), None)
    if repeated is not None:
        raise ApiError(400, "invalid_export_fields", "Invalid Export", f"Field {repeated} is listed twice")
    return fields


def _clean_order(order) -> str:
    if order is None or order == "":
        return DEFAULT_ORDER
    if not isinstance(order, str) or order.removeprefix("-") not in ORDERS:
        choices = ", ".join(f"{key}, -{key}" for key in ORDERS)
        raise bad_payload(f"Property .parameters.order must be one of: {choices}; got {json.dumps(order)}")
    return order


def _filter_kind(field: str) -> str:
    """``text``, ``date`` or ``metadata``; a 400 for a field that cannot be filtered on."""
    if field in DATE_FIELDS:
        return "date"
    if field in ("email", "name", "phone", "source_id", "city"):
        return "text"
    prefix, _, rest = field.partition(".")
    if prefix == "address" and rest in ADDRESS_FIELDS:
        return "text"
    if prefix == "metadata" and rest and all(rest.split(".")):
        return "metadata"
    allowed = "email, name, phone, source_id, city, created_at, updated_at, birthdate, address.<"
    raise bad_payload(f"filters.{field}: unknown filter field. Allowed: {allowed}{'|'.join(ADDRESS_FIELDS)}>, "
                      "metadata.<key>")  # fmt: skip


def _allowed_operators(kind: str) -> frozenset[str]:
    return {"text": TEXT_OPERATORS, "date": DATE_OPERATORS, "metadata": METADATA_OPERATORS}[kind]


def clean_filters(filters) -> dict:
    """``filters`` checked and normalised (every condition's values as a list); raises ``ApiError`` 400.

    Each field is ``{"conditions": {"$op": [values]}}`` (a scalar stands for a one-element list).
    """
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise bad_payload("Property .parameters.filters must be an object")
    junction = filters.get("junction", "and")
    if junction not in ("and", "or"):
        raise bad_payload(f"filters.junction must be and or or, got {json.dumps(junction)}")
    clean: dict = {"junction": junction}
    for field, rule in filters.items():
        if field == "junction":
            continue
        kind = _filter_kind(field)
        if not isinstance(rule, dict) or not isinstance(rule.get("conditions"), dict):
            raise bad_payload(f'filters.{field} must be an object like {{"conditions": {{"$is": ["value"]}}}}')
        for key in rule:
            if key != "conditions":
                raise bad_payload(f"filters.{field}.{key} is not supported (only conditions)")
        conditions = {}
        for op, raw in rule["conditions"].items():
            values = raw if isinstance(raw, list) else [raw]
            _check_condition(field, kind, op, values)
            conditions[op] = values
        clean[field] = {"conditions": conditions}
    return clean


def _check_condition(field: str, kind: str, op: str, values: list) -> None:
    where = f"filters.{field}.conditions.{op}"
    if op in UNSUPPORTED_OPERATORS:
        raise bad_payload(f"{where}: the sandbox does not support the operator {op}")
    if op not in METADATA_OPERATORS | DATE_OPERATORS:
        raise bad_payload(f"{where}: unknown operator {op}")
    if op not in _allowed_operators(kind):
        allowed = ", ".join(sorted(_allowed_operators(kind)))
        raise bad_payload(f"{where}: operator {op} is not valid for {field} (valid: {allowed})")
    if op in _VALUELESS:
        return
    if op not in _LISTS and len(values) != 1:
        raise bad_payload(f"{where} takes exactly one value, got {len(values)}")
    for value in values:
        _check_value(where, kind, op, value)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_value(where: str, kind: str, op: str, value) -> None:
    if kind == "date" or op in ("$after", "$before"):
        if not isinstance(value, str):
            raise bad_payload(f"{where} takes ISO 8601 dates or date-times, got {json.dumps(value)}")
        _moment(value, where)
    elif kind == "text" or op in _PATTERNS or op == "$not_contain":
        if not isinstance(value, str):
            raise bad_payload(f"{where} takes strings, got {json.dumps(value)}")
    elif op in COMPARISONS:
        if not _is_number(value):
            raise bad_payload(f"{where} takes a number, got {json.dumps(value)}")
    elif not (isinstance(value, str | bool) or _is_number(value)):
        raise bad_payload(f"{where} takes strings, numbers or booleans, got {json.dumps(value)}")


def _moment(value: str, where: str) -> datetime:
    """An ISO date or date-time; the 400 names the filter condition (as a body error, not a query one)."""
    try:
        return parse_datetime(value, where)
    except ApiError as error:
        raise bad_payload(error.body["details"]) from error


# ---------------------------------------------------------------------------------------------------------------
# Filters as a Q


def customer_filter(filters: dict) -> Q:
    """A ``Q`` on ``Customer`` for (checked or raw) export ``filters``; raises ``ApiError`` 400 when they are bad.

    Conditions of one field all hold (AND); fields combine by ``junction``. Evaluate the query on a connection
    set up by ``ready_connection`` (new connections are, by a signal).
    """
    filters = clean_filters(filters)
    junction = filters.pop("junction")
    parts = []
    for field, rule in filters.items():
        kind = _filter_kind(field)
        conditions = [_condition(field, kind, op, values) for op, values in rule["conditions"].items()]
        parts.append(reduce(lambda a, b: a & b, conditions, Q()))
    if not parts:
        return Q()
    return reduce((lambda a, b: a | b) if junction == "or" else (lambda a, b: a & b), parts)


def _condition(field: str, kind: str, op: str, values: list) -> Q:
    where = f"filters.{field}.conditions.{op}"
    if kind == "text":
        return _text_condition(_text_column(field), op, values)
    if kind == "date":
        return _date_condition(DATE_FIELDS[field], op, values, where)
    return _metadata_condition(field.removeprefix("metadata."), op, values, where)


def _text_column(field: str):
    if field in _LOWERED:
        return F(_LOWERED[field])
    if field.startswith("address."):
        return Fold(KT(f"address__{field.removeprefix('address.')}"))
    return Fold(F(field))


def _text_missing(column) -> Q:
    return Q(Exact(column, "")) | Q(IsNull(column, True))


def _text_condition(column, op: str, values: list) -> Q:
    present = ~_text_missing(column)
    if op == "$has_value":
        return present
    if op == "$is_unknown":
        return _text_missing(column)
    if op in _NEGATIVE:
        return present & ~_text_condition(column, _NEGATIVE[op], values)
    lowered = [value.lower() for value in values]
    if op == "$is":
        return Q(Exact(column, lowered[0]))
    if op == "$in":
        return Q(In(column, lowered)) if lowered else Q(pk__in=[])
    return Q(_PATTERNS[op](column, lowered[0]))


def _date_condition(column: str, op: str, values: list, where: str) -> Q:
    if op == "$has_value":
        return Q(**{f"{column}__isnull": False})
    if op == "$is_unknown":
        return Q(**{f"{column}__isnull": True})
    text = values[0]
    moment = _moment(text, where)
    day_only = re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", text) is not None
    if column == "birthdate":
        bound: date | datetime = moment.date()
        if op == "$is":
            return Q(birthdate=bound)
    else:
        bound = moment
        if op == "$is":
            # A date is the whole UTC day; a date-time is that millisecond.
            if day_only:
                return Q(**{f"{column}__gte": moment, f"{column}__lt": moment + timedelta(days=1)})
            return Q(**{column: moment})
    return Q(**{f"{column}__{_ORDERINGS[op].lookup_name}": bound})


def _json_path(key: str) -> str:
    # ASCII-escaped labels, as Django writes (and itself addresses) JSON: SQLite matches labels as written.
    return "$" + "".join("." + json.dumps(part) for part in key.split("."))


def _json_func(function: str, path: str, output_field):
    return Func(F("metadata"), Value(path), function=function, output_field=output_field)


def _metadata_condition(key: str, op: str, values: list, where: str) -> Q:
    path = _json_path(key)
    kind = _json_func("JSON_TYPE", path, CharField())
    text = _json_func("JSON_EXTRACT", path, CharField())
    present = Q(In(kind, ["true", "false", "integer", "real", "object", "array"])) | (
        Q(Exact(kind, "text")) & ~Q(Exact(text, ""))
    )
    if op == "$has_value":
        return present
    if op == "$is_unknown":
        return Q(IsNull(kind, True)) | ~present
    if op in _NEGATIVE:
        return present & ~_metadata_condition(key, _NEGATIVE[op], values, where)
    is_text = Q(Exact(kind, "text"))
    if op in ("$is", "$in"):
        matches = [_metadata_is(path, value) for value in values]
        return reduce(lambda a, b: a | b, matches) if matches else Q(pk__in=[])
    if op in _PATTERNS:
        return is_text & Q(_PATTERNS[op](Fold(text), values[0].lower()))
    if op in ("$after", "$before"):
        # ISO dates kept as metadata strings, compared as moments (``julianday`` reads the Z/offset suffix).
        day = Func(text, function="julianday", output_field=FloatField())
        bound = Func(Value(iso(_moment(values[0], where))), function="julianday", output_field=FloatField())
        return is_text & Q(_ORDERINGS[op](day, bound))
    number = _json_func("JSON_EXTRACT", path, FloatField())
    return Q(In(kind, ["integer", "real"])) & Q(_ORDERINGS[op](number, float(values[0])))


def _metadata_is(path: str, value) -> Q:
    kind = _json_func("JSON_TYPE", path, CharField())
    if isinstance(value, bool):
        return Q(Exact(kind, "true" if value else "false"))
    if _is_number(value):
        number = _json_func("JSON_EXTRACT", path, FloatField())
        return Q(In(kind, ["integer", "real"])) & Q(Exact(number, float(value)))
    text = _json_func("JSON_EXTRACT", path, CharField())
    return Q(Exact(kind, "text")) & Q(Exact(Fold(text), value.lower()))


def matching_customers(parameters: dict):
    """The customers an export with these (checked) parameters holds, in its order."""
    order = parameters.get("order") or DEFAULT_ORDER
    descending = order.startswith("-")
    column = F(ORDERS[order.removeprefix("-")])
    return Customer.objects.filter(customer_filter(parameters.get("filters"))).order_by(
        column.desc() if descending else column.asc(), "-id" if descending else "id"
    )


# ---------------------------------------------------------------------------------------------------------------
# Records, files and JSON


def export_create(*, body, request_id: str) -> Export:
    """Records a SCHEDULED customer export and starts writing it once the surrounding transaction commits."""
    parameters = clean_parameters(body)
    customer_filter(parameters["filters"])  # every condition must translate before anything is recorded
    moment = now()
    export = Export.objects.create(
        id=new_export_id(),
        exported_object=CUSTOMER,
        parameters=parameters,
        token=secrets.token_urlsafe(32),
        runner=background.runner_id(),
        heartbeat_at=moment,
        request_id=request_id,
        created_at=moment,
        updated_at=moment,
    )
    transaction.on_commit(lambda: background.start_thread(_run, export.id), using=SANDBOX_DB)
    return export


def storage() -> FileSystemStorage:
    """Where export files live (``SANDBOX_EXPORTS_DIR``), read at call time so tests can move it."""
    return FileSystemStorage(location=settings.SANDBOX_EXPORTS_DIR)


def file_name(export_id: str) -> str:
    return f"{export_id}.csv"


def _partial_name(export_id: str) -> str:
    return f"{export_id}.csv.part"


def export_delete(export: Export) -> None:
    """Deletes the export and its file; a thread still writing it drops its file when it finds the row gone."""
    Export.objects.filter(id=export.id).delete()
    _discard(file_name(export.id))
    _discard(_partial_name(export.id))


def token_matches(export: Export, token: str) -> bool:
    return bool(token) and hmac.compare_digest(token.encode(), export.token.encode())


def open_file(export: Export):
    """The finished CSV, opened for reading; a 404 when the export is not DONE or its file is gone."""
    if export.status != Export.DONE:
        raise _no_file(export, f"Export {export.id} has no file yet: its status is {export.status}")
    try:
        return storage().open(export.file_name or file_name(export.id), "rb")
    except (FileNotFoundError, NotADirectoryError) as error:
        raise _no_file(export, f"The file of export {export.id} is gone") from error


def _no_file(export: Export, details: str) -> ApiError:
    return ApiError(404, "not_found", "Resource not found", details, resource_id=export.id, resource_type="export")


def _discard(name: str) -> None:
    """Deletes a file of the export storage if it is there."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        storage().delete(name)


def export_json(export: Export, *, base_url: str) -> dict:
    """The ``Export`` shape; ``result.url`` (DONE only) is built on ``base_url``, the sandbox as the client reached it.

    ``user_id`` is ``""``: the export was made with application keys, not by a dashboard user, and the create
    response's schema requires a string.
    """
    result = None
    if export.status == Export.DONE:
        result = {"url": f"{base_url}/v1/exports/{export.id}?token={export.token}"}
    data = {
        "id": export.id,
        "object": "export",
        "created_at": iso(export.created_at),
        "status": export.status,
        "channel": export.channel,
        "result": result,
        "user_id": "",
        "exported_object": export.exported_object,
        "parameters": export.parameters,
    }
    if export.status == Export.ERROR:
        data["error"] = {"key": "export_failed", "message": "Export failed", "details": export.error or ""}
    return data


# ---------------------------------------------------------------------------------------------------------------
# Writing the file in the background


def _run(export_id: str) -> None:
    heartbeat = background.Heartbeat(Export, export_id)
    # Waiting in the queue still counts as alive for a runner on another host, which judges by heartbeats.
    while not _queue.acquire(timeout=1):
        heartbeat.beat()
    try:
        _process(export_id, heartbeat)
    finally:
        _queue.release()


def _process(export_id: str, heartbeat: background.Heartbeat) -> None:
    export = Export.objects.filter(id=export_id).first()
    if export is None or export.status not in (Export.SCHEDULED, Export.IN_PROGRESS):
        return
    heartbeat.beat(status=Export.IN_PROGRESS)
    name = file_name(export_id)
    try:
        with _Pulse(export_id):
            rows = write_csv(export, name)
        fields = {"status": Export.DONE, "rows": rows, "file_name": name, "error": None}
    except Exception as error:
        logger.exception("export %s failed", export_id)
        fields = {"status": Export.ERROR, "error": str(error) or type(error).__name__}
    if not Export.objects.filter(id=export_id).update(updated_at=now(), **fields):
        # Deleted while it was being written.
        _discard(name)


def write_csv(export: Export, name: str) -> int:
    """Writes the export's CSV under ``name`` (complete or not at all) and returns its number of data rows.

    One SELECT read in chunks: memory stays flat, and in WAL mode the statement reads one consistent snapshot
    (no ``transaction.atomic``: the sandbox database takes its write lock on BEGIN).
    """
    ready_connection()
    fields = export.parameters["fields"]
    expressions, positions = _columns(fields)
    rows = matching_customers(export.parameters).values_list(*expressions).iterator(chunk_size=CHUNK_SIZE)
    files = storage()
    os.makedirs(files.location, exist_ok=True)
    partial = _partial_name(export.id)
    count = 0
    formats = [_formatter(field) for field in fields]
    try:
        with files.open(partial, "wb") as handle:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(fields)
            for row in rows:
                writer.writerow([fmt(row[position]) for fmt, position in zip(formats, positions, strict=True)])
                count += 1
            text.flush()
            text.detach()
    except BaseException:
        _discard(partial)
        raise
    os.replace(files.path(partial), files.path(name))
    return count


def _columns(fields: list[str]) -> tuple[list, list[int]]:
    """The SELECT list for ``fields`` (each column once) and, per field, where its value is in a row."""
    keys: list[str] = []
    expressions: list = []
    positions = []
    for field in fields:
        source = FIELDS[field]
        key = source if isinstance(source, str) else "__".join(source)
        if key not in keys:
            keys.append(key)
            expressions.append(source if isinstance(source, str) else KT(key))
        positions.append(keys.index(key))
    return expressions, positions


def _formatter(field: str):
    if field == "orders_last_order_date":
        return _iso_text
    if field == "metadata":
        return lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else ""
    return _cell


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _iso_text(value) -> str:
    """A date-time kept as text in a JSON column, served like the other dates when it parses."""
    if not isinstance(value, str) or not value:
        return _cell(value)
    try:
        return iso(parse_datetime(value, "orders_last_order_date"))
    except ApiError:
        return value


class _Pulse:
    """Heartbeats from a thread of their own while the CSV is written.

    The writing connection holds an open SELECT (an old WAL snapshot); SQLite refuses its writes once anyone
    else has committed ("database is locked"), so the heartbeat needs another connection.
    """

    def __init__(self, export_id: str):
        self.heartbeat = background.Heartbeat(Export, export_id)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"sandbox-{export_id}-heartbeat", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(1):
                self.heartbeat.beat()
        except Exception:
            logger.exception("export heartbeat failed")
        finally:
            connections.close_all()

    def __enter__(self) -> _Pulse:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join()


# ---------------------------------------------------------------------------------------------------------------
# Restarts


def recover(export: Export) -> Export:
    """Runs again, here and from scratch, an unfinished export whose process is gone (exports only read)."""
    if export.status not in (Export.SCHEDULED, Export.IN_PROGRESS):
        return export
    if not background.is_orphan(export, now()) or not background.claim(Export, export.id, export.runner):
        return export
    logger.info("export %s was left %s by a stopped process; running it here", export.id, export.status)
    Export.objects.filter(id=export.id).update(status=Export.SCHEDULED, updated_at=now())
    _discard(_partial_name(export.id))
    background.start_thread(_run, export.id)
    return Export.objects.get(id=export.id)


def recover_orphans() -> None:
    for export in Export.objects.filter(status__in=(Export.SCHEDULED, Export.IN_PROGRESS)):
        recover(export)
