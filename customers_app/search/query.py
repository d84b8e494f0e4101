"""Reads of the search index for the UI: a page of customers matching a query and the list's filters,
and how fresh the index is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from django.utils import timezone

from ..types import parse_datetime
from . import engine
from .index import index_state
from .models import IndexedCustomer
from .text import MIN_TERM, fold_city, parse_query

# The list's orders; ties go by id in the same direction, so pages never repeat or skip a row.
ORDERS = {
    "created_at": ("created_at", "customer_id"),
    "-created_at": ("-created_at", "-customer_id"),
    "updated_at": ("updated_at", "customer_id"),
    "-updated_at": ("-updated_at", "-customer_id"),
    "source_id": ("source_id", "customer_id"),
    "-source_id": ("-source_id", "-customer_id"),
}
DEFAULT_ORDER = "-created_at"
MAX_LIMIT = 100
# A page is found by testing rows in order when that needs fewer than this many rows (see search_customers).
SCAN_ROWS = 5000


@dataclass(frozen=True)
class SearchPage:
    """One page of matches. ``rows`` are ``IndexedCustomer`` rows (``id``, ``source_id``, ``name``, ``email``,
    ``phone``, ``city``, ``country``, ``created_at``, ``updated_at``); ``terms`` are the folded forms to
    pass to ``highlight``. ``too_short`` holds the words under three characters: nothing was searched."""

    rows: list[IndexedCustomer]
    total: int
    has_more: bool
    terms: list[str]
    page: int = 1
    limit: int = 25
    too_short: tuple[str, ...] = field(default=())

    @property
    def searched(self) -> bool:
        return not self.too_short

    @property
    def hint(self) -> str:
        """What to tell the person when nothing was searched."""
        if not self.too_short:
            return ""
        words = ", ".join(f"“{word}”" for word in self.too_short)
        verb = "is" if len(self.too_short) == 1 else "are"
        return f"Type at least {MIN_TERM} characters of each word to search ({words} {verb} too short)."


@dataclass(frozen=True)
class IndexStatus:
    ready: bool  # the first full load has finished
    customers: int
    updated_at: datetime | None  # the last successful full load or sync pass
    warming_up: bool  # the first load has not finished: search is not available yet
    last_error: str = ""
    watermark: datetime | None = None

    @property
    def age_seconds(self) -> float | None:
        if self.updated_at is None:
            return None
        return max(0.0, (timezone.now() - self.updated_at).total_seconds())


def index_status() -> IndexStatus:
    """How fresh the index is, for "index updated 40 s ago, 100,000 customers" (one small query)."""
    state = index_state()
    return IndexStatus(
        ready=state.ready,
        customers=state.customers,
        updated_at=state.last_sync_at,
        warming_up=not state.ready,
        last_error=state.last_error,
        watermark=state.watermark,
    )


def _moment(value: date | datetime | str | None) -> datetime | None:
    """A bound as the list takes it: a datetime, a date (its midnight, UTC) or an API string."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            try:
                value = date.fromisoformat(value[:10])
            except ValueError as exc:
                raise ValueError(f"Not a date or time: {value!r}") from exc
        else:
            return parsed
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


def search_customers(
    q: str | None,
    *,
    city: str | None = None,
    created_at_after: Any = None,
    created_at_before: Any = None,
    updated_at_after: Any = None,
    updated_at_before: Any = None,
    order: str = DEFAULT_ORDER,
    page: int = 1,
    limit: int = 25,
) -> SearchPage:
    """The customers whose name, email, phone, source id or id hold every word of ``q``, with the list's
    filters applied in the index too: ``city`` whole (case- and accent-insensitive), date bounds
    exclusive as on the list, ``order`` one of the list's orders, ``page`` from 1.

    Matching folds case and accents (``muller`` finds Müller), and phone words match by their digits
    (``600 111`` and ``+48600111`` find ``+48 600 111 222``). A word under three characters searches
    nothing: the page comes back empty with ``too_short`` set (show ``hint``). An empty ``q`` lists
    every indexed customer matching the filters.
    """
    query = parse_query(q)
    limit = max(1, min(int(limit), MAX_LIMIT))
    page = max(1, int(page))
    terms = query.highlight_terms
    if query.too_short:
        return SearchPage(rows=[], total=0, has_more=False, terms=terms, page=page, limit=limit,
                          too_short=query.too_short)  # fmt: skip
    rows = IndexedCustomer.objects.all()
    filtered = False
    if city and fold_city(city):
        rows, filtered = rows.filter(city_folded=fold_city(city)), True
    for name, lookup, value in (
        ("created_at", "gt", created_at_after),
        ("created_at", "lt", created_at_before),
        ("updated_at", "gt", updated_at_after),
        ("updated_at", "lt", updated_at_before),
    ):
        moment = _moment(value)
        if moment is not None:
            rows, filtered = rows.filter(**{f"{name}__{lookup}": moment}), True
    offset = (page - 1) * limit
    by_index, by_rows = engine.matching(rows, query.terms), engine.containing(rows, query.terms)
    hits = engine.hit_count(query.terms)
    if hits is None:  # the engine plans it (PostgreSQL), or there are no terms
        total, paged = by_index.count(), by_index
    elif hits == 0:
        total, paged = 0, by_index
    else:
        # Rare terms: the text index hands over its few rows, which are then sorted. Common ones ("gmail",
        # "cust_"): walking the order's index and testing rows fills the page after about
        # (offset + limit) * customers / hits rows, each test cheaper than sorting a hit (measured ~1:3).
        customers = max(hits, index_state().customers)
        walked = (offset + limit) * customers / hits
        paged = by_rows if walked <= max(SCAN_ROWS, 3 * hits) else by_index
        total = (by_rows if hits > SCAN_ROWS else by_index).count() if filtered else hits
    found: list[IndexedCustomer] = []
    if offset < total:
        ordered = paged.order_by(*ORDERS.get(order, ORDERS[DEFAULT_ORDER])).defer("search_text")
        found = list(ordered[offset : offset + limit])
    return SearchPage(rows=found, total=total, has_more=offset + len(found) < total, terms=terms, page=page,
                      limit=limit)  # fmt: skip
