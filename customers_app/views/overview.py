"""The overview: how many customers, how fast they come, where they live and which segments hold them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from ..charts import column_chart, row_chart
from ..roles import VIEW, perm
from ..search.overview import figures
from ..services.segments import segment_sizes
from ..services.voucherify import VoucherifyError


def _list_url(**filters) -> str:
    return reverse("customers:list") + "?" + urlencode(filters)


@permission_required(perm(VIEW), raise_exception=True)
@require_GET
def overview_view(request):
    """Charts from the dashboard's search index (no API calls) and segment sizes from Voucherify (cached)."""
    numbers = figures()
    weeks = [
        (f"{start:%d %b}", count, _list_url(created_at_after=(start - timedelta(days=1)).isoformat(),
                                            created_at_before=(start + timedelta(days=7)).isoformat()))
        for start, count in numbers.weekly
    ]  # fmt: skip
    cities = [(city.name, city.count, _list_url(city=city.name)) for city in numbers.cities]
    countries = [(country or "No country", count, "") for country, count in numbers.countries[:15]]
    try:
        segments = [(segment.name, size, _list_url(segment_id=segment.id)) for segment, size in segment_sizes()]
        segments_error = None
    except VoucherifyError as error:
        segments, segments_error = [], error
    context = {
        "figures": numbers,
        "weeks": numbers.weekly,
        "week_chart": column_chart("New customers per week, last 26 weeks", weeks),
        "city_chart": row_chart("Top 10 cities", cities),
        "country_chart": row_chart("Customers per country", countries),
        "segment_chart": row_chart("Customers per segment", segments) if segments else None,
        "segments": segments,
        "segments_error": segments_error,
        "nav": "overview",
    }
    return render(request, "overview/overview.html", context)
