"""Writes to the search index: upserting customers (never an older copy over a newer one, never an erased
person, never an id the dashboard just removed), removing them, clearing the index, and the hooks the
dashboard's own writes call so the index shows them at once.

The hooks (``index_customer``, ``remove_customers``) never fail the page that calls them: the write to
Voucherify has already happened, and the next sync pass puts the index right if a hook could not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from ..types import Customer, parse_datetime
from . import engine
from .models import IndexedCustomer, RemovedCustomer, SearchIndexState
from .text import fold_city, search_document

logger = logging.getLogger("customers_app.search")

BATCH_SIZE = 1000
# A removed id blocks its return this long: longer than any sync pass could hold a page read before it.
REMOVED_KEEP = timedelta(days=1)
TABLE = IndexedCustomer._meta.db_table
COLUMNS = ("customer_id", "source_id", "name", "email", "phone", "city", "country", "created_at", "updated_at",
           "search_text", "city_folded", "seen", "indexed_at")  # fmt: skip
UPDATED = [column for column in COLUMNS if column not in ("customer_id", "seen")]


@dataclass(frozen=True)
class Row:
    """One customer as the index keeps them."""

    customer_id: str
    source_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    city: str | None = None
    country: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_customer(cls, customer: Customer) -> Row:
        address = customer.address
        return cls(
            customer_id=customer.id,
            source_id=customer.source_id,
            name=customer.name,
            email=customer.email,
            phone=customer.phone,
            city=address.city if address else None,
            country=address.country if address else None,
            created_at=customer.created_at,
            updated_at=customer.updated_at,
        )

    @classmethod
    def from_export(cls, cells: Mapping[str, str]) -> Row | None:
        """A row of a Voucherify export (fields named as asked for, see ``sync.LOAD_FIELDS``)."""
        customer_id = (cells.get("id") or "").strip()
        if not customer_id:
            return None

        def text(name: str) -> str | None:
            return cells.get(name) or None

        return cls(
            customer_id=customer_id,
            source_id=text("source_id"),
            name=text("name"),
            email=text("email"),
            phone=text("phone"),
            city=text("address_city"),
            country=text("address_country"),
            created_at=parse_datetime(cells.get("created_at")),
            updated_at=parse_datetime(cells.get("updated_at")),
        )

    def document(self) -> str:
        return search_document(customer_id=self.customer_id, source_id=self.source_id, name=self.name,
                               email=self.email, phone=self.phone, city=self.city, country=self.country)  # fmt: skip


def index_state() -> SearchIndexState:
    """The index's state row, created on first use."""
    state, _ = SearchIndexState.objects.get_or_create(pk=1)
    return state


# Writing -----------------------------------------------------------------------------------------


def _upsert_sql() -> str:
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    assignments = ", ".join(f"{column} = excluded.{column}" for column in UPDATED)
    # Older data never replaces newer: a page a sync read before a dashboard edit arrives after it.
    newer = f"{TABLE}.updated_at IS NULL OR excluded.updated_at IS NULL OR excluded.updated_at >= {TABLE}.updated_at"
    return (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({placeholders}) "  # noqa: S608 - fixed names
        f"ON CONFLICT (customer_id) DO UPDATE SET {assignments} WHERE {newer}"
    )


def _values(row: Row, *, seen: int, now: datetime) -> tuple:
    """The row's columns in ``COLUMNS`` order, as the database takes them."""
    moment = connection.ops.adapt_datetimefield_value
    return (row.customer_id, row.source_id, row.name, row.email, row.phone, row.city, row.country,
            moment(row.created_at), moment(row.updated_at), row.document(), fold_city(row.city), seen,
            moment(now))  # fmt: skip


def _erased(rows: list[Row]) -> set[str]:
    """Ids of the rows whose email or source id belongs to an erased person (one query per call)."""
    from ..erasure import guard_check_rows  # the erasure module calls this package's hooks

    hits = guard_check_rows({"email": row.email, "source_id": row.source_id} for row in rows)
    return {rows[hit.row - 1].customer_id for hit in hits}


def upsert(rows: Iterable[Row], *, seen: int = 0) -> int:
    """Writes ``rows`` into the index; returns how many were offered after the guards.

    Left out: anyone matching an erased person (and any copy of them already indexed is deleted), and
    ids the dashboard removed within ``REMOVED_KEEP``. ``seen`` marks every offered row as held by
    that full load or reconciliation, written or not.
    """
    by_id = {row.customer_id: row for row in rows}  # the last copy of an id wins
    if not by_id:
        return 0
    batch = list(by_id.values())
    erased = _erased(batch)
    removed = set(RemovedCustomer.objects.filter(customer_id__in=list(by_id)).values_list("customer_id", flat=True))
    kept = [row for row in batch if row.customer_id not in erased and row.customer_id not in removed]
    now = timezone.now()
    values = [_values(row, seen=seen, now=now) for row in kept]
    with transaction.atomic():
        if erased:
            IndexedCustomer.objects.filter(customer_id__in=list(erased)).delete()
        if values:
            with connection.cursor() as cursor:
                cursor.executemany(_upsert_sql(), values)
        if seen and kept:
            IndexedCustomer.objects.filter(customer_id__in=[row.customer_id for row in kept]).update(seen=seen)
    return len(kept)


def mark_seen(customer_ids: list[str], *, seen: int) -> int:
    """A reconciliation's export held these ids; returns how many of them the index has."""
    return IndexedCustomer.objects.filter(customer_id__in=customer_ids).update(seen=seen)


def sweep(*, seen: int, written_before: datetime) -> int:
    """Deletes the rows the last export did not hold, except rows written since it was asked for."""
    deleted, _ = IndexedCustomer.objects.filter(indexed_at__lt=written_before).exclude(seen=seen).delete()
    return deleted


def delete(customer_ids: Iterable[str], *, remember: bool = True) -> int:
    """Deletes these customers from the index; ``remember``: a sync that read them earlier cannot bring them back."""
    ids = sorted({customer_id for customer_id in customer_ids if customer_id})
    if not ids:
        return 0
    now = timezone.now()
    with transaction.atomic():
        deleted, _ = IndexedCustomer.objects.filter(customer_id__in=ids).delete()
        if remember:
            RemovedCustomer.objects.bulk_create(
                [RemovedCustomer(customer_id=customer_id, removed_at=now) for customer_id in ids],
                update_conflicts=True,
                unique_fields=["customer_id"],
                update_fields=["removed_at"],
            )
            RemovedCustomer.objects.filter(removed_at__lt=now - REMOVED_KEEP).delete()
    return deleted


def clear() -> None:
    """Empties the index and forgets its load: the next sync pass starts with a full load."""
    with transaction.atomic():
        engine.delete_all_rows()
        index_state()
        SearchIndexState.objects.filter(pk=1).update(
            ready=False, customers=0, watermark=None, watermark_ids=[], full_load_started_at=None,
            full_load_finished_at=None, load_export_id="", last_error="", last_error_at=None,
        )  # fmt: skip


def recount() -> int:
    count = IndexedCustomer.objects.count()
    SearchIndexState.objects.filter(pk=1).update(customers=count)
    return count


# Hooks for the dashboard's own writes ----------------------------------------------------------------


def index_customer(customer: Customer) -> None:
    """After a create or edit: the customer as Voucherify just returned them, searchable at once."""
    try:
        upsert([Row.from_customer(customer)])
        recount()
    except Exception:  # the edit itself succeeded; the next sync pass catches up
        logger.exception("search index: could not index customer %s", customer.id)


def remove_customers(customer_ids: Iterable[str]) -> None:
    """After a delete or an erasure (or a hit found gone from Voucherify): out of the index at once."""
    ids = list(customer_ids)
    try:
        delete(ids)
        recount()
    except Exception:  # see index_customer
        logger.exception("search index: could not remove %d customer(s)", len(ids))
