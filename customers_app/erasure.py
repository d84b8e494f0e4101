"""GDPR erasure: erasing a person from Voucherify for good, keeping the case record, guarding against their return."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from .audit import Action, Outcome, audit_record, audit_scrub, capture_request_ids
from .csv_import import import_files_purge_person
from .export_jobs import purge_jobs_mentioning
from .models import ErasedIdentifier, ErasureRecord, PrivacyRequest
from .no_trace import leave_no_trace
from .search.index import remove_customers
from .services.customers import customer_get, customer_list, customer_permanently_delete
from .services.voucherify import NotFound, VoucherifyError
from .types import Customer

logger = logging.getLogger("customers_app.erasure")

# Voucherify lists at most 100 per page; more people sharing one email than that is not a person.
MAX_SHARED_EMAIL = 100


# Keyed hashes ------------------------------------------------------------------------------------


def normalise_identifier(value: str | None) -> str:
    """Emails and source ids compare case-insensitively and without surrounding spaces."""
    return (value or "").strip().lower()


def _keys() -> list[str]:
    """The current secret key first, then the fallbacks, so a key rotation keeps the guard working."""
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def identifier_digest(value: str, *, key: str | None = None) -> str:
    """HMAC-SHA256 (keyed with SECRET_KEY) of the normalised value, as hex: reveals nothing without the key."""
    secret = (key if key is not None else settings.SECRET_KEY).encode()
    message = b"customers_app.erased:" + normalise_identifier(value).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _digests(value: str) -> list[str]:
    return [identifier_digest(value, key=key) for key in _keys()]


@dataclass(frozen=True)
class ErasedPerson:
    """Which erasure a value was erased by; ``matched`` says what matched (``email`` or ``source_id``)."""

    matched: str
    erasure_id: int
    reference: str
    erased_at: datetime


def erased_match(*, email: str | None = None, source_id: str | None = None) -> ErasedPerson | None:
    """The erasure that removed a person with this email or source id, or None.

    A value is compared with every erased identifier whatever its kind: many projects use emails
    as source ids, so an erased email also stops a new customer whose source id is that email.
    """
    for matched, value in (("email", email), ("source_id", source_id)):
        if not normalise_identifier(value):
            continue
        found = (
            ErasedIdentifier.objects.filter(digest__in=_digests(value))
            .select_related("erasure")
            .order_by("-created_at")
            .first()
        )
        if found:
            return ErasedPerson(
                matched=matched,
                erasure_id=found.erasure_id,
                reference=found.erasure.reference,
                erased_at=found.erasure.created_at,
            )
    return None


@dataclass(frozen=True)
class GuardHit:
    """A row that would bring an erased person back: its position (1-based, as the user counts) and why."""

    row: int
    person: ErasedPerson

    @property
    def message(self) -> str:
        return guard_message(self.person)


def guard_message(person: ErasedPerson) -> str:
    """The explanation shown wherever the guard stops something."""
    what = "email" if person.matched == "email" else "source id"
    return (
        f"A person with this {what} was permanently erased on {person.erased_at:%Y-%m-%d} "
        f"(erasure request {person.reference}). Bringing them back needs an administrator's override with a reason."
    )


def guard_check_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    email_key: str = "email",
    source_id_key: str = "source_id",
    first_row: int = 1,
) -> list[GuardHit]:
    """The rows (of an import or a bulk update) whose email or source id belongs to an erased person.

    Rows are numbered from ``first_row``; keys are looked up case-insensitively, so CSV headers
    such as ``Email``/``Source_id`` work too. See ``guard_check_numbered`` for rows that carry
    their own numbers (file lines).
    """
    return guard_check_numbered(enumerate(rows, start=first_row), email_key=email_key, source_id_key=source_id_key)


def guard_check_numbered(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    email_key: str = "email",
    source_id_key: str = "source_id",
) -> list[GuardHit]:
    """Like ``guard_check_rows`` for ``(number, row)`` pairs, e.g. CSV line numbers. One query per call."""
    known = set(ErasedIdentifier.objects.values_list("digest", flat=True).distinct())
    if not known:
        return []
    erasures: dict[str, ErasedIdentifier] = {}
    hits: list[GuardHit] = []
    for number, row in rows:
        lowered = {str(k).lower(): v for k, v in row.items()}
        for matched, key in (("email", email_key), ("source_id", source_id_key)):
            value = lowered.get(key.lower())
            if not isinstance(value, str) or not normalise_identifier(value):
                continue
            digest = next((d for d in _digests(value) if d in known), None)
            if digest is None:
                continue
            if digest not in erasures:
                erasures[digest] = (
                    ErasedIdentifier.objects.filter(digest=digest).select_related("erasure").order_by("-created_at")
                ).first()
            identifier = erasures[digest]
            person = ErasedPerson(
                matched=matched,
                erasure_id=identifier.erasure_id,
                reference=identifier.erasure.reference,
                erased_at=identifier.erasure.created_at,
            )
            hits.append(GuardHit(row=number, person=person))
            break
    return hits


def guard_record(
    *,
    actor,
    person: ErasedPerson,
    target: str,
    override_reason: str = "",
    rows: int = 1,
) -> None:
    """Audits a stop (no reason) or an administrator's override (with the reason); no personal value is kept.

    ``target`` names what was attempted, e.g. "create", "import fichier.csv" or a job id.
    """
    changes = {"erasure_id": person.erasure_id, "matched": person.matched, "rows": rows}
    if override_reason:
        audit_record(
            actor=actor,
            action=Action.GUARD_OVERRIDE,
            target_id=target,
            changes=changes,
            detail=f"Override of erasure request {person.reference}: {override_reason}",
        )
    else:
        audit_record(
            actor=actor,
            action=Action.GUARD_BLOCKED,
            target_id=target,
            changes=changes,
            outcome=Outcome.DENIED,
            detail=f"Stopped: erased by request {person.reference}",
        )


# Erasure -----------------------------------------------------------------------------------------


def erasure_candidates(*, customer: Customer) -> list[Customer]:
    """Everyone an erasure of ``customer`` must cover: the customer and every customer sharing the email.

    Raises Unavailable, RateLimited or AuthError.
    """
    found = [customer]
    if customer.email:
        wanted = normalise_identifier(customer.email)
        for other in customer_list(email=customer.email, limit=MAX_SHARED_EMAIL).customers:
            if other.id != customer.id and normalise_identifier(other.email) == wanted:
                found.append(other)
    return found


def erasure_subjects(*, identifier: str, identifier_kind: str) -> list[Customer]:
    """Every customer record a privacy request for what the admin typed covers; [] when Voucherify has none.

    An email finds every customer with that email and the customer whose source id it is (many
    projects use emails as source ids); an id or source id finds that customer and everyone sharing
    their email. Raises Unavailable, RateLimited or AuthError.
    """
    value = identifier.strip()
    if not value:
        return []
    if identifier_kind != PrivacyRequest.IdentifierKind.EMAIL:
        try:
            customer = customer_get(customer_id=value)
        except NotFound:
            return []
        return erasure_candidates(customer=customer)
    found: list[Customer] = []
    with contextlib.suppress(NotFound):
        found.append(customer_get(customer_id=value))
    wanted = normalise_identifier(value)
    for other in customer_list(email=value, limit=MAX_SHARED_EMAIL).customers:
        if normalise_identifier(other.email) == wanted and all(other.id != c.id for c in found):
            found.append(other)
    return found


def _receipt(customer: Customer) -> dict[str, Any]:
    """Permanently deletes one customer; the receipt holds ids and counts, never personal values."""
    return _deletion_receipt(customer.id, receipt={"customer_id": customer.id})


def _deletion_receipt(key: str, *, receipt: dict[str, Any]) -> dict[str, Any]:
    with capture_request_ids() as request_ids:
        try:
            deletion = customer_permanently_delete(customer_id=key)
        except NotFound as exc:
            # Already gone (deleted meanwhile): nothing of theirs is left to erase.
            return receipt | {"outcome": "not_found", "request_id": exc.request_id or request_ids.last, "counts": {}}
        except VoucherifyError as exc:
            return receipt | {
                "outcome": "failed",
                "request_id": exc.request_id or request_ids.last,
                "error": f"{type(exc).__name__}: HTTP {exc.status}" if exc.status else type(exc).__name__,
                "counts": {},
            }
    return receipt | {
        "customer_id": receipt.get("customer_id") or deletion.related_object_id or "",
        "outcome": "erased",
        "deletion_id": deletion.id,
        "status": deletion.status or "",
        "erased_at": deletion.created_at.isoformat() if deletion.created_at else "",
        "counts": {key: value for key, value in deletion.counts.items() if isinstance(value, int | float)},
        "request_id": request_ids.last,
    }


def _typed_receipt(identifier: str, identifier_kind: str) -> dict[str, Any]:
    """Nobody could be fetched: asks Voucherify to permanently delete whatever it still holds under the
    typed id or source id (an email too, as projects use emails as source ids). The receipt names the
    customer id only when the admin typed one: a source id is often an email."""
    receipt: dict[str, Any] = {
        "customer_id": identifier if identifier_kind == PrivacyRequest.IdentifierKind.ID else "",
        "looked_up": identifier_kind,
    }
    return _deletion_receipt(identifier, receipt=receipt)


def _typed_values(identifier: str, identifier_kind: str) -> tuple[list[str], list[str]]:
    """The typed identifier as (emails, source ids) for the guard and the scrub; an id is neither."""
    if not identifier.strip():
        return [], []
    if identifier_kind == PrivacyRequest.IdentifierKind.EMAIL:
        return [identifier.strip()], []
    if identifier_kind == PrivacyRequest.IdentifierKind.SOURCE_ID:
        return [], [identifier.strip()]
    return [], []


def customers_erase(
    *,
    actor,
    customers: list[Customer],
    reference: str,
    requester: str,
    requester_reference: str = "",
    reason: str,
    case: PrivacyRequest | None = None,
    identifier: str = "",
    identifier_kind: str = "",
) -> ErasureRecord:
    """Erases every customer given (one person's records) and keeps the evidence.

    Calls Voucherify's permanent deletion once per customer, then in one transaction: stores the
    erasure record (ids, counts and request ids only), the keyed hashes of the erased emails and
    source ids for the re-creation guard, scrubs the person from the audit trail and audits each
    erasure. A customer Voucherify no longer has counts as erased; a failure leaves that customer
    in place and makes the outcome "partial" (or "failed" when nothing was erased).

    ``identifier`` (an email, id or source id typed on a privacy request) covers someone Voucherify
    can no longer show: with no ``customers`` the permanent deletion is asked for that value, and an
    email or source id typed joins the guard either way. ``case`` is the privacy request this answers:
    it is linked and closed in the same transaction (its identifier blanked) so that no copy of the
    typed value outlives the database compaction that follows.
    """
    if customers:
        receipts = [_receipt(customer) for customer in customers]
    elif identifier.strip():
        receipts = [_typed_receipt(identifier.strip(), identifier_kind)]
    else:
        receipts = []
    typed_emails, typed_source_ids = _typed_values(identifier, identifier_kind)
    done = [customer for customer, receipt in zip(customers, receipts, strict=False) if receipt["outcome"] != "failed"]
    succeeded = [receipt for receipt in receipts if receipt["outcome"] != "failed"]
    if len(succeeded) == len(receipts):
        outcome = ErasureRecord.Outcome.COMPLETED
    elif succeeded:
        outcome = ErasureRecord.Outcome.PARTIAL
    else:
        outcome = ErasureRecord.Outcome.FAILED
    # If the database write below failed the upstream erasure would have no record: log the ids.
    logger.info(
        "erasure %s by %s: %s",
        reference,
        actor.get_username(),
        ", ".join(f"{r['customer_id']}={r['outcome']}" for r in receipts),
    )
    with transaction.atomic():
        record = ErasureRecord.objects.create(
            erased_by=actor,
            erased_by_name=actor.get_username(),
            reference=reference,
            requester=requester,
            requester_reference=requester_reference,
            reason=reason,
            customer_ids=[r["customer_id"] for r in receipts if r.get("customer_id")],
            receipts=receipts,
            outcome=outcome,
        )
        if case is not None:
            _close_case(case, record=record)
        if succeeded:
            values = {(ErasedIdentifier.Kind.EMAIL, c.email) for c in done if c.email} | {
                (ErasedIdentifier.Kind.SOURCE_ID, c.source_id) for c in done if c.source_id
            }
            values |= {(ErasedIdentifier.Kind.EMAIL, v) for v in typed_emails}
            values |= {(ErasedIdentifier.Kind.SOURCE_ID, v) for v in typed_source_ids}
            ErasedIdentifier.objects.bulk_create(
                [
                    ErasedIdentifier(kind=kind, digest=identifier_digest(value), erasure=record)
                    for kind, value in values
                    if normalise_identifier(value)
                ],
                ignore_conflicts=True,
            )
            audit_scrub(
                customer_ids=[c.id for c in done],
                source_ids={c.source_id: c.id for c in done if c.source_id},
                emails=sorted({c.email for c in done if c.email} | set(typed_emails)),
                note=f"Personal details removed by erasure request {record.pk}.",
            )
        for receipt in receipts:
            failed = receipt["outcome"] == "failed"
            audit_record(
                actor=actor,
                action=Action.ERASE,
                target_id=receipt["customer_id"] or (case.reference if case else reference),
                changes={"erasure_id": record.pk, "outcome": receipt["outcome"], "counts": receipt.get("counts", {})},
                request_id=receipt.get("request_id") or "",
                outcome=Outcome.FAILED if failed else Outcome.SUCCESS,
                detail=f"Erasure request {record.pk} (reference {reference})"
                + (f": {receipt['error']}" if failed else ""),
            )
    if succeeded:  # no copy in the search index, the import wizard's files, export files or jobs' parameters either
        emails = [c.email for c in done] + typed_emails
        source_ids = [c.source_id for c in done] + typed_source_ids
        ids = [c.id for c in done] + [r["customer_id"] for r in receipts if r.get("customer_id")]
        remove_customers(sorted(set(ids)))
        import_files_purge_person(emails=emails, source_ids=source_ids)
        purge_jobs_mentioning([*emails, *source_ids, *ids, *(c.phone for c in done)])
        # ... nor in sessions, other job records, audit entries, privacy requests and their access
        # packs, nor in the database files themselves.
        keep = case.pk if case is not None and case.is_open else None
        leave_no_trace(
            emails=emails,
            names=[c.name for c in done],
            phones=[c.phone for c in done],
            source_ids=source_ids,
            digests=[identifier_digest(v) for v in (*emails, *source_ids, *ids) if normalise_identifier(v)],
            keep_privacy_request=keep,
            note=f"Personal details removed by erasure request {record.pk}.",
        )
    return record


def _close_case(case: PrivacyRequest, *, record: ErasureRecord) -> None:
    """Links the erasure to its case; a complete erasure closes it and blanks the typed identifier,
    a partial or failed one leaves it open (with the identifier) so it can be run again."""
    receipts = record.receipts
    case.erasure = record
    if record.outcome == ErasureRecord.Outcome.COMPLETED:
        erased = any(r["outcome"] == "erased" for r in receipts)
        case.outcome = PrivacyRequest.Outcome.ERASED if erased else PrivacyRequest.Outcome.NOTHING_FOUND
        case.status = PrivacyRequest.Status.DONE
        case.identifier = ""
        case.closed_at = record.created_at
    else:
        case.outcome = (
            PrivacyRequest.Outcome.PARTIAL
            if record.outcome == ErasureRecord.Outcome.PARTIAL
            else PrivacyRequest.Outcome.FAILED
        )
        case.status = PrivacyRequest.Status.OPEN
    case.save()


def erasure_evidence(record: ErasureRecord) -> dict[str, Any]:
    """The erasure record as a self-contained document for the data protection file (JSON)."""
    return {
        "object": "erasure_record",
        "id": record.pk,
        "reference": record.reference,
        "created_at": record.created_at.isoformat(),
        "erased_by": record.erased_by_name,
        "requester": record.requester,
        "requester_label": record.get_requester_display(),
        "requester_reference": record.requester_reference,
        "reason": record.reason,
        "outcome": record.outcome,
        "customer_ids": record.customer_ids,
        "receipts": record.receipts,
        "guard": {
            "identifiers_kept": record.identifiers.count(),
            "method": "HMAC-SHA256 keyed with the dashboard's secret key, of the lower-cased email or source id",
        },
        "personal_data": "none: the erased person's name, email and other details are not kept",
    }
