"""The audit trail: recording every write made through the dashboard, reading it back, and scrubbing erased people."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, unquote_plus

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import AuditEntry
from .services.voucherify import VoucherifyError, get_client

logger = logging.getLogger("customers_app.audit")

Action = AuditEntry.Action
Outcome = AuditEntry.Outcome

# What a scrubbed value reads as, so the trail still shows that a field changed.
ERASED = "[erased]"
# Entries whose detail names no one and stays through a scrub: a denied request, what was viewed.
KEEPS_DETAIL = (Action.DENIED, Action.VIEW)


# Recording ---------------------------------------------------------------------------------------


def _actor_fields(actor) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor": None, "actor_name": ""}
    return {"actor": actor, "actor_name": actor.get_username()}


def audit_record(
    *,
    actor,
    action: str,
    target_id: str = "",
    target_label: str = "",
    changes: dict[str, Any] | None = None,
    request_id: str = "",
    outcome: str = Outcome.SUCCESS,
    detail: str = "",
) -> AuditEntry:
    """Appends one entry to the trail and returns it.

    ``actor`` is the user (or None/anonymous); ``target_id`` a Voucherify customer id (preferred
    to a source id, so the entry survives an erasure scrub with its ids intact), a job id or a URL
    path; ``target_label`` and ``changes`` may hold personal values (they are scrubbed on erasure).
    """
    return AuditEntry.objects.create(
        **_actor_fields(actor),
        action=str(action),
        target_id=(target_id or "")[:500],
        target_label=(target_label or "")[:500],
        changes=changes or {},
        request_id=(request_id or "")[:200],
        outcome=str(outcome),
        detail=detail or "",
    )


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"field": {"before": old, "after": new}}`` for every key whose value differs."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def customer_label(customer) -> str:
    """How an entry names a customer next to its id: name and email (personal, scrubbed on erasure)."""
    parts = [customer.name or "", f"<{customer.email}>" if customer.email else ""]
    label = " ".join(part for part in parts if part)
    if customer.source_id:
        label = f"{label} [{customer.source_id}]" if label else customer.source_id
    return label


class RequestIds:
    """The Voucherify request ids seen inside ``capture_request_ids()``, successful calls included."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    @property
    def last(self) -> str:
        return self.ids[-1] if self.ids else ""

    def __str__(self) -> str:
        return ", ".join(self.ids)


@contextlib.contextmanager
def capture_request_ids() -> Iterator[RequestIds]:
    """Collects the ``X-Request-Id`` of every Voucherify response in this block (this thread only).

    The client returns decoded JSON, not responses, so this hooks the thread's own ``requests``
    session for the duration of the block; failed calls also carry the id on their exception.
    """
    captured = RequestIds()

    def hook(response, *args, **kwargs):
        request_id = response.headers.get("X-Request-Id")
        if request_id:
            captured.ids.append(request_id)
        return response

    try:
        session = get_client().session
    except Exception:  # noqa: BLE001 - a misconfigured client fails on the real call instead
        yield captured
        return
    hooks = session.hooks.setdefault("response", [])
    hooks.append(hook)
    try:
        yield captured
    finally:
        with contextlib.suppress(ValueError):
            hooks.remove(hook)


def _jsonable(value: Any) -> Any:
    """A value as the trail can store it (JSON); anything else, such as a "missing" marker, becomes None or text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if type(value).__name__ == "_Missing":
        return None
    return str(value)


def audit_changes(before: dict[str, Any], changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"field": {"before": ..., "after": ...}}`` for the fields in ``changes`` (new values), from ``before``."""
    return {
        str(key): {"before": _jsonable(before.get(key)), "after": _jsonable(value)}
        for key, value in sorted(changes.items())
    }


class AuditedWrite:
    """What ``audited()`` will record; the block may name the customer once it exists."""

    def __init__(self, target_id: str, target_label: str, changes: dict[str, Any] | None) -> None:
        self.target_id = target_id
        self.target_label = target_label
        self.changes = changes or {}

    def customer(self, customer) -> None:
        """The entry is about this customer: its Voucherify id, its name and email as the label."""
        self.target_id = customer.id
        self.target_label = customer_label(customer)


@contextlib.contextmanager
def audited(
    *,
    actor,
    action: str,
    customer=None,
    target_id: str = "",
    target_label: str = "",
    changes: dict[str, Any] | None = None,
) -> Iterator[AuditedWrite]:
    """Wraps one write to Voucherify: records it as a success with its request id, or as a failure.

    Any VoucherifyError raised in the block is recorded (with its request id) and raised again,
    so the view handles it as before. Example::

        with audited(actor=request.user, action=Action.EDIT, customer=customer, changes=...):
            customer_update(customer_id=customer.id, changes=payload)
    """
    write = AuditedWrite(target_id, target_label, _jsonable(changes) if changes else None)
    if customer is not None:
        write.customer(customer)
    with capture_request_ids() as request_ids:
        try:
            yield write
        except VoucherifyError as exc:
            audit_record(
                actor=actor,
                action=action,
                target_id=write.target_id,
                target_label=write.target_label,
                changes=write.changes,
                request_id=exc.request_id or request_ids.last,
                outcome=Outcome.FAILED,
                detail=f"{type(exc).__name__}: {exc.details or exc.message}",
            )
            raise
    audit_record(
        actor=actor,
        action=action,
        target_id=write.target_id,
        target_label=write.target_label,
        changes=write.changes,
        request_id=request_ids.last,
    )


# Denied attempts ---------------------------------------------------------------------------------


def audit_denied(request: HttpRequest) -> AuditEntry:
    """Records that a signed-in user was refused a page (403)."""
    return audit_record(
        actor=request.user,
        action=Action.DENIED,
        target_id=request.get_full_path()[:500],
        outcome=Outcome.DENIED,
        detail=f"{request.method} refused: missing permission",
    )


# Reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    customer: str = ""
    outcome: str = ""
    date_from: date | None = None
    date_to: date | None = None
    kind: str = ""  # "changes": leave view records out; "views": only them


def audit_list(*, filters: AuditFilters | None = None) -> QuerySet[AuditEntry]:
    """Entries newest first, narrowed by actor (username), action, customer id, outcome, dates (UTC,
    inclusive) and kind (changes or views)."""
    filters = filters or AuditFilters()
    entries = AuditEntry.objects.select_related("actor")
    if filters.kind == "changes":
        entries = entries.exclude(action=Action.VIEW)
    elif filters.kind == "views":
        entries = entries.filter(action=Action.VIEW)
    if filters.actor:
        entries = entries.filter(actor_name__iexact=filters.actor.strip())
    if filters.action:
        entries = entries.filter(action=filters.action)
    if filters.outcome:
        entries = entries.filter(outcome=filters.outcome)
    if filters.customer:
        customer = filters.customer.strip()
        # Denied attempts name the page they asked for, whose path holds the id.
        entries = entries.filter(Q(target_id=customer) | Q(target_id__contains=f"/customers/{customer}/"))
    if filters.date_from:
        entries = entries.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        entries = entries.filter(created_at__lt=_day_start(filters.date_to) + timedelta(days=1))
    return entries.order_by("-created_at", "-id")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def customer_history(*, customer_id: str, limit: int = 100, kind: str = "") -> list[AuditEntry]:
    """The latest entries about one customer (by Voucherify id), for its History tab."""
    return list(audit_list(filters=AuditFilters(customer=customer_id, kind=kind))[:limit])


HISTORY_LIMIT = 200
HISTORY_VIEWS_LIMIT = 50


def history_panel(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    """What the customer page's History tab shows (a ``Tab.load`` function): the latest changes, and
    apart from them who looked at the customer lately (views would soon push the changes out)."""
    return {
        "entries": customer_history(customer_id=customer_id, limit=HISTORY_LIMIT, kind="changes"),
        "limit": HISTORY_LIMIT,
        "views": customer_history(customer_id=customer_id, limit=HISTORY_VIEWS_LIMIT, kind="views"),
        "views_limit": HISTORY_VIEWS_LIMIT,
    }


def record_view(request: HttpRequest, **view) -> None:
    """Records that someone looked at customer data: see ``customers_app.view_records.record_view``."""
    from .view_records import record_view as record  # above this module: it builds on the trail

    record(request, **view)


# Scrubbing ---------------------------------------------------------------------------------------


def _blank_changes(changes: Any) -> Any:
    """Keeps which fields changed, drops what they were and became."""
    if isinstance(changes, dict):
        return {
            key: ({inner: ERASED for inner in value} if isinstance(value, dict) else ERASED)
            for key, value in changes.items()
        }
    return {}


def audit_scrub(
    *,
    customer_ids: list[str],
    source_ids: dict[str, str] | None = None,
    emails: list[str] = (),
    note: str = "",
) -> int:
    """Blanks the personal values in the entries about erased people; returns how many were scrubbed.

    Entries keep action, actor, time, outcome, request id and the Voucherify customer id. An entry
    that names a person by source id (a failed create, a denied URL) has that source id replaced
    by its customer id (``source_ids`` maps one to the other), because source ids are often emails.
    """
    source_ids = {source_id: customer_id for source_id, customer_id in (source_ids or {}).items() if source_id}
    keys = [value for value in (*customer_ids, *source_ids) if value]
    if not keys:
        return 0
    match = Q(target_id__in=keys)
    for key in keys:
        for form in {key, quote(key, safe="")}:
            match |= Q(target_id__contains=f"/customers/{form}/")
    for email in emails:
        if email:
            match |= Q(target_label__icontains=email)
    scrubbed = 0
    now = timezone.now()
    for entry in AuditEntry.objects.filter(match):
        target_id = entry.target_id
        for source_id, customer_id in source_ids.items():
            if source_id == customer_id:
                continue
            if target_id == source_id:
                target_id = customer_id or ERASED
            for form in {source_id, quote(source_id, safe="")}:
                target_id = target_id.replace(f"/customers/{form}/", f"/customers/{customer_id or ERASED}/")
        entry.target_id = target_id
        entry.target_label = ""
        entry.changes = _blank_changes(entry.changes)
        if entry.detail and entry.action not in KEEPS_DETAIL:
            entry.detail = note or "Personal details removed after a GDPR erasure."
        entry.scrubbed_at = now
        entry.save(_scrub=True, update_fields=["target_id", "target_label", "changes", "detail", "scrubbed_at"])
        scrubbed += 1
    logger.info("audit scrub: %d entries for %d erased customers", scrubbed, len(customer_ids))
    return scrubbed


MIN_MENTION = 5


def _mentions(text: str, values: list[str], names: list[str]) -> bool:
    """Whether ``text`` (casefolded, percent-decoded too) holds one of ``values`` anywhere or one of ``names``."""
    folded = text.casefold()
    forms = {folded, unquote_plus(folded)}
    return any(value in form for form in forms for value in (*values, *names))


def audit_scrub_mentioning(*, values: list[str], names: list[str] = (), note: str = "") -> int:
    """Blanks the entries that name an erased person without their ids; returns how many were scrubbed.

    ``audit_scrub`` finds entries by customer id, source id and email in the label. This finds the
    rest: a failed create without a source id (whose changes hold the email and phone), a denied page
    whose URL carried an email (``/customers/export/?email=...``), a detail quoting a value. ``values``
    (emails, phones, source ids) match anywhere, as typed or percent-encoded; ``names`` only where the
    whole name is written (a field that was that name, or a label or URL holding the full name), so a
    common first name does not scrub other people's entries. Reads the trail once, in chunks.
    """
    values = sorted({v.strip().casefold() for v in values if v and v.strip()})
    names = sorted({n.strip().casefold() for n in names if n and n.strip()})
    if not values and not names:
        return 0
    # A value too short to be anyone's in particular ("7", "+1") matches only as a whole field.
    names += [value for value in values if len(value) < MIN_MENTION]
    values = [value for value in values if len(value) >= MIN_MENTION]
    full_names = [name for name in names if " " in name and len(name) >= MIN_MENTION]
    now = timezone.now()
    scrubbed = 0
    fields = ("pk", "target_id", "target_label", "changes", "detail")
    for pk, target_id, target_label, changes, detail in AuditEntry.objects.values_list(*fields).iterator(2000):
        leaves = [str(leaf).casefold().strip() for leaf in _leaves(changes)]
        texts = [text for text in (target_id, target_label, detail, *leaves) if text]
        if not (any(leaf in names for leaf in leaves) or any(_mentions(text, values, full_names) for text in texts)):
            continue
        entry = AuditEntry.objects.get(pk=pk)
        if _mentions(entry.target_id, values, full_names):
            # A URL (denied page) keeps its path, which names no one; its query goes.
            path = entry.target_id.split("?", 1)[0]
            entry.target_id = path if not _mentions(path, values, full_names) else ERASED
        entry.target_label = ""
        entry.changes = _blank_changes(entry.changes)
        if entry.detail and (entry.action not in KEEPS_DETAIL or _mentions(entry.detail, values, full_names)):
            entry.detail = note or "Personal details removed after a GDPR erasure."
        entry.scrubbed_at = entry.scrubbed_at or now
        entry.save(_scrub=True, update_fields=["target_id", "target_label", "changes", "detail", "scrubbed_at"])
        scrubbed += 1
    if scrubbed:
        logger.info("audit scrub: %d more entries named an erased person without their ids", scrubbed)
    return scrubbed


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value
