"""GDPR privacy requests as cases: opening one, its deadline, two-person approval of erasures, running them.

A case (``PrivacyRequest``) is an access request (art. 15, answered by a pack: ``privacy_pack``) or an
erasure (art. 17, answered by ``erasure.customers_erase``), due ``PRIVACY_REQUEST_DAYS`` after it was
received. With ``ERASURE_APPROVAL=two_person`` an erasure waits for a second person with the erase
permission: the one who prepared it can neither carry it out nor approve it (checked here, on the
server), and the approver's decision, either way, is kept on the case and in the audit trail.

What the case keeps of the person: see ``PrivacyRequest`` (the typed identifier only while it is open).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone

from .audit import Action, audit_record
from .erasure import customers_erase, erasure_subjects, identifier_digest
from .models import ErasureRecord, PrivacyRequest
from .privacy_pack import access_pack_start
from .roles import ERASE, perm

DUE_SOON_DAYS = 7
TWO_PERSON = "two_person"


class NotAllowed(Exception):
    """The user may not do this to the case (the preparer approving their own erasure, a closed case)."""


def approval_required() -> bool:
    return settings.ERASURE_APPROVAL == TWO_PERSON


def due_date(received_on: date) -> date:
    return received_on + timedelta(days=settings.PRIVACY_REQUEST_DAYS)


# Opening -----------------------------------------------------------------------------------------


def _reference(received_on: date) -> str:
    return f"PR-{received_on:%Y}-{secrets.token_hex(3).upper()}"


def _actor(user) -> dict:
    return {"prepared_by": user, "prepared_by_name": user.get_username()}


def privacy_request_open(
    *,
    actor,
    kind: str,
    identifier: str,
    identifier_kind: str,
    requester: str,
    requester_reference: str = "",
    reason: str = "",
    received_on: date | None = None,
    reference: str = "",
) -> PrivacyRequest:
    """Records a new case; an access request starts gathering its pack at once, an erasure waits for its
    confirmation (or, with two-person approval, for the approver). ``reference`` defaults to a fresh
    ``PR-<year>-<hex>``; a reference already taken gets a ``-2``, ``-3``… suffix."""
    received_on = received_on or timezone.localdate()
    status = PrivacyRequest.Status.OPEN
    if kind == PrivacyRequest.Kind.ERASURE and approval_required():
        status = PrivacyRequest.Status.AWAITING_APPROVAL
    base = reference.strip() or _reference(received_on)
    for attempt in range(1, 50):
        candidate = base if attempt == 1 else f"{base}-{attempt}"
        if PrivacyRequest.objects.filter(reference=candidate).exists():
            continue
        try:
            with transaction.atomic():
                case = PrivacyRequest.objects.create(
                    reference=candidate,
                    kind=kind,
                    requester=requester,
                    requester_reference=requester_reference,
                    reason=reason,
                    received_on=received_on,
                    due_on=due_date(received_on),
                    status=status,
                    identifier_kind=identifier_kind,
                    identifier=identifier.strip(),
                    identifier_digest=identifier_digest(identifier),
                    **_actor(actor),
                )
        except IntegrityError:
            continue
        break
    else:  # pragma: no cover - fifty references taken at once
        raise NotAllowed("Could not choose a free reference for this request; choose another one.")
    audit_record(
        actor=actor,
        action=Action.PRIVACY_OPEN,
        target_id=case.reference,
        changes={"privacy_request": case.pk, "kind": kind, "looked_up_by": identifier_kind, "status": status},
        detail=f"{case.get_kind_display()} request {case.reference} opened, due {case.due_on:%Y-%m-%d}",
    )
    if kind == PrivacyRequest.Kind.ACCESS:
        access_pack_start(case=case, user=actor)
    return case


# Who may do what -----------------------------------------------------------------------------------


def may_handle(user) -> bool:
    return user.has_perm(perm(ERASE))


def may_carry_out(case: PrivacyRequest, user) -> bool:
    """Whether ``user`` may run this erasure now: without approval, anyone with the erase permission;
    with it, only a second person (not the preparer), and that is approving."""
    if case.kind != PrivacyRequest.Kind.ERASURE or not case.is_open or not may_handle(user):
        return False
    if not approval_required():
        return True
    return case.status == PrivacyRequest.Status.AWAITING_APPROVAL and case.prepared_by_id != user.pk


def may_reject(case: PrivacyRequest, user) -> bool:
    if not case.is_open or not may_handle(user):
        return False
    if case.status == PrivacyRequest.Status.AWAITING_APPROVAL:
        return case.prepared_by_id != user.pk
    return True


def may_download(case: PrivacyRequest, user) -> bool:
    """The access pack is for the case's handlers (who prepared or approved it), with the erase permission."""
    return may_handle(user) and user.pk in {case.prepared_by_id, case.approved_by_id} - {None}


# Deciding and running -------------------------------------------------------------------------------


def erasure_carry_out(*, case: PrivacyRequest, actor, customers=None) -> ErasureRecord:
    """Runs the erasure of an open case (approving it first when two-person approval is on).

    ``customers`` are the records already looked up (the customer erase page); by default they are
    looked up again from the case's identifier. Raises NotAllowed for the preparer under two-person
    approval or a closed case; Unavailable, RateLimited or AuthError from the lookup.
    """
    if not may_carry_out(case, actor):
        if approval_required() and case.prepared_by_id == actor.pk:
            raise NotAllowed("You prepared this erasure: a second person with the erase permission must approve it.")
        raise NotAllowed("This request cannot be carried out now.")
    if approval_required():
        now = timezone.now()
        case.approved_by, case.approved_by_name, case.decided_at = actor, actor.get_username(), now
        case.save(update_fields=["approved_by", "approved_by_name", "decided_at"])
        audit_record(
            actor=actor,
            action=Action.PRIVACY_APPROVE,
            target_id=case.reference,
            changes={"privacy_request": case.pk, "prepared_by": case.prepared_by_name},
            detail=f"Erasure request {case.reference} approved (prepared by {case.prepared_by_name})",
        )
    if customers is None:
        customers = erasure_subjects(identifier=case.identifier, identifier_kind=case.identifier_kind)
    return customers_erase(
        actor=actor,
        customers=customers,
        reference=case.reference,
        requester=case.requester,
        requester_reference=case.requester_reference,
        reason=case.reason,
        case=case,
        identifier=case.identifier,
        identifier_kind=case.identifier_kind,
    )


def privacy_request_reject(*, case: PrivacyRequest, actor, reason: str) -> PrivacyRequest:
    """Closes a case without acting on it, with the reason; the typed identifier goes."""
    if not may_reject(case, actor):
        raise NotAllowed("You prepared this erasure: a second person with the erase permission must decide on it.")
    now = timezone.now()
    case.status = PrivacyRequest.Status.REJECTED
    case.rejection_reason = reason
    case.approved_by, case.approved_by_name = actor, actor.get_username()
    case.decided_at = case.closed_at = now
    case.identifier = ""
    case.save()
    audit_record(
        actor=actor,
        action=Action.PRIVACY_REJECT,
        target_id=case.reference,
        changes={"privacy_request": case.pk, "kind": case.kind},
        detail=f"{case.get_kind_display()} request {case.reference} rejected: {reason}",
    )
    return case


# Listing and deadlines --------------------------------------------------------------------------------


def privacy_request_list(*, today: date | None = None) -> QuerySet[PrivacyRequest]:
    """Every case, the urgent first: open and overdue, open and due within 7 days, other open, then closed."""
    today = today or timezone.localdate()
    open_ = {"status__in": PrivacyRequest.OPEN_STATUSES}
    urgency = Case(
        When(due_on__lt=today, then=Value(0), **open_),
        When(due_on__lte=today + timedelta(days=DUE_SOON_DAYS), then=Value(1), **open_),
        When(then=Value(2), **open_),
        default=Value(3),
        output_field=IntegerField(),
    )
    return (
        PrivacyRequest.objects.annotate(urgency=urgency)
        .select_related("erasure", "job")
        .order_by("urgency", Case(When(then="due_on", **open_), default=None), "-created_at", "-id")
    )


@dataclass(frozen=True)
class Deadline:
    """How a case stands against its due date, for the badges: ``overdue``, ``due_soon``, ``on_time`` or ``closed``."""

    state: str
    days: int

    @property
    def label(self) -> str:
        if self.state == "closed":
            return "Closed"
        if self.state == "overdue":
            return f"Overdue by {self.days} day{'s' if self.days != 1 else ''}"
        if self.days == 0:
            return "Due today"
        return f"Due in {self.days} day{'s' if self.days != 1 else ''}"


def deadline(case: PrivacyRequest, *, today: date | None = None) -> Deadline:
    today = today or timezone.localdate()
    left = (case.due_on - today).days
    if not case.is_open:
        return Deadline("closed", left)
    if left < 0:
        return Deadline("overdue", -left)
    return Deadline("due_soon" if left <= DUE_SOON_DAYS else "on_time", left)
