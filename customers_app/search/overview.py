"""The overview page's figures, counted in SQL from the search index (a few indexed queries at any size).

Segment sizes are not here: they come from Voucherify, which knows its segments' members.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Max
from django.db.models.functions import TruncWeek
from django.utils import timezone

from .models import IndexedCustomer
from .query import IndexStatus, index_status

WEEKS = 26
TOP_CITIES = 10


@dataclass(frozen=True)
class CityCount:
    name: str  # as most customers spell it (the greatest spelling when they differ)
    folded: str  # what the list's ``city`` filter matches: pass ``name`` to it
    count: int


@dataclass(frozen=True)
class Figures:
    total: int
    weekly: list[tuple[date, int]]  # (Monday of the week, customers created that week), oldest first
    countries: list[tuple[str, int]]  # most customers first; "" for customers without a country
    cities: list[CityCount]  # the top ten, most customers first
    status: IndexStatus


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def new_per_week(*, weeks: int = WEEKS, today: date | None = None) -> list[tuple[date, int]]:
    """Customers created in each of the last ``weeks`` weeks (this one included), zero-filled."""
    today = today or timezone.now().astimezone(UTC).date()
    first = week_start(today) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    counted = (
        IndexedCustomer.objects.filter(created_at__gte=since)
        .annotate(week=TruncWeek("created_at", tzinfo=UTC))
        .values("week")
        .annotate(count=Count("doc"))
        .order_by()
    )
    by_week = {_day(row["week"]): row["count"] for row in counted}
    return [(first + timedelta(weeks=n), by_week.get(first + timedelta(weeks=n), 0)) for n in range(weeks)]


def _day(value: date | datetime) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def per_country() -> list[tuple[str, int]]:
    rows = IndexedCustomer.objects.values("country").annotate(count=Count("doc")).order_by("-count", "country")
    return [(row["country"] or "", row["count"]) for row in rows]


def top_cities(*, limit: int = TOP_CITIES) -> list[CityCount]:
    """Cities counted whole and case- and accent-insensitively ("Kraków" and "krakow" are one city)."""
    rows = (
        IndexedCustomer.objects.exclude(city_folded="")
        .values("city_folded")
        .annotate(count=Count("doc"), name=Max("city"))
        .order_by("-count", "city_folded")[:limit]
    )
    return [CityCount(name=row["name"] or row["city_folded"], folded=row["city_folded"], count=row["count"])
            for row in rows]  # fmt: skip


def figures(*, today: date | None = None) -> Figures:
    """Everything the overview page draws, from the index (see ``status`` for how fresh it is)."""
    return Figures(
        total=IndexedCustomer.objects.count(),
        weekly=new_per_week(today=today),
        countries=per_country(),
        cities=top_cities(),
        status=index_status(),
    )
