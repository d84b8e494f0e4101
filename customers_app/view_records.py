"""Who looked at whom: view records (a customer's page or tab, a search, a download) in the audit trail.

A view record is an ``AuditEntry`` with ``Action.VIEW``: who, when, which customer (its Voucherify
id) or how many rows, the client's address and what was looked at ("customer page", "search"...).
It never holds the customer's data, nor what was searched for (a search text can be an email).

``record_view()`` only queues the record; it is written when Django closes the response, which the
WSGI server does after the last byte has been sent (``request_finished``), so recording never
slows the page. A failure to write is logged (without the record's content) and never breaks a page.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime

from django import forms
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from .audit import AuditFilters
from .gdpr_forms import AuditFilterForm
from .models import AuditEntry

logger = logging.getLogger("customers_app.view_records")

# What was looked at, as the trail and the History tab show it.
CUSTOMER_PAGE = "customer page"
SEARCH = "search"
CUSTOMER_LIST = "customer list"
EXPORT_DOWNLOAD = "export download"
REJECTED_ROWS_DOWNLOAD = "rejected rows download"
ERASURE_EVIDENCE_DOWNLOAD = "erasure evidence download"


def tab_view(tab_label: str) -> str:
    """``"Activity"`` -> ``"activity tab"``."""
    return f"{tab_label.lower()} tab"


@dataclass(frozen=True)
class PendingView:
    actor_id: int | None
    actor_name: str
    customer_id: str
    rows: int | None
    what: str
    address: str | None
    at: datetime

    def entry(self) -> AuditEntry:
        return AuditEntry(
            created_at=self.at,
            actor_id=self.actor_id,
            actor_name=self.actor_name,
            action=AuditEntry.Action.VIEW,
            target_id=self.customer_id[:500],
            rows=self.rows,
            address=self.address,
            detail=self.what,
        )


# Records queued by this thread's request, written when its response is closed.
_queue = threading.local()


def client_address(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind the deployment's proxy the address it forwarded.

    Only the last ``X-Forwarded-For`` hop is taken, the one the proxy itself appended: the ones
    before it are whatever the client chose to send.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):  # set by DJANGO_BEHIND_TLS_PROXY
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        address = forwarded or address
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def record_view(request: HttpRequest, *, customer_id: str = "", rows: int | None = None, what: str) -> None:
    """Records that the signed-in user looked at one customer (its Voucherify id) or at ``rows`` rows.

    Call it once the page is sure to be shown, with the customer the view already fetched
    (``customer.id``, never a source id or email) and a ``what`` such as ``"customer page"``.
    The row is written after the response has been sent.
    """
    user = getattr(request, "user", None)
    authenticated = bool(user is not None and user.is_authenticated)
    pending = PendingView(
        actor_id=user.pk if authenticated else None,
        actor_name=user.get_username() if authenticated else "",
        customer_id=customer_id or "",
        rows=rows,
        what=what,
        address=client_address(request),
        at=timezone.now(),
    )
    _queue.__dict__.setdefault("views", []).append(pending)


def write_pending_views(**_) -> int:
    """Writes this thread's queued view records; returns how many. Never raises."""
    views, _queue.views = getattr(_queue, "views", []), []
    if not views:
        return 0
    # request_finished has closed this thread's connection first if it was too old to keep
    # (DB_CONN_MAX_AGE); one opened for this write goes the same way.
    was_closed = connection.connection is None
    try:
        with transaction.atomic():  # a savepoint inside an outer transaction: a failure leaves it usable
            AuditEntry.objects.bulk_create([view.entry() for view in views])
    except Exception as exc:  # noqa: BLE001 - the page has been shown; a lost record is logged, not raised
        logger.error("view records: %d could not be written (%s)", len(views), type(exc).__name__)
        return 0
    finally:
        if was_closed:
            connection.close()
    return len(views)


def drop_unsent_views(**_) -> None:
    """A new request on this thread: records still queued belong to a response that was never closed,
    so never sent (a test that did not read a download); they go rather than join this request's."""
    views, _queue.views = getattr(_queue, "views", []), []
    if views:
        logger.warning("view records: %d dropped, their response was never sent", len(views))


# Connected once: a response closed after the WSGI server has sent it writes its records.
request_finished.connect(write_pending_views, dispatch_uid="customers_app.view_records.write")
request_started.connect(drop_unsent_views, dispatch_uid="customers_app.view_records.drop")


# The audit list's filter -------------------------------------------------------------------------------


class AuditTrailFilterForm(AuditFilterForm):
    """The audit list's filters plus whether to show view records, which far outnumber the changes."""

    KINDS = [("", "Changes and views"), ("changes", "Changes only (no views)"), ("views", "Views only")]

    kind = forms.ChoiceField(required=False, choices=KINDS, label="Show")

    def filters(self) -> AuditFilters:
        filters = super().filters()
        kind = self.cleaned_data.get("kind", "") if self.is_valid() else ""
        return replace(filters, kind=kind)
