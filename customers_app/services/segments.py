"""Segment reads; the project's segment list is cached briefly because names rarely change."""

from __future__ import annotations

import hashlib

from django.core.cache import cache

from customers_app.services.customers import customer_list
from customers_app.services.voucherify import get_client, path
from customers_app.types import Segment

SEGMENT_LIST_CACHE_SECONDS = 60


def _cache_key(what: str) -> str:
    """A cache key per Voucherify project (API URL and application id), so projects never share answers."""
    client = get_client()
    project = hashlib.sha256(f"{client.base_url}|{client.app_id}".encode()).hexdigest()[:16]
    return f"voucherify:{what}:{project}"


def segment_list() -> list[Segment]:
    """The project's segments, newest first (up to 100), for the customer list's segment filter.

    Cached for a minute per project. Raises Unavailable, RateLimited or AuthError.
    """
    cache_key = _cache_key("segments")
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    data = get_client().get("/v1/segments", params={"limit": 100})
    # The spec names the array `data` (data_ref) and also declares it as `segments`.
    items = data.get("data") if isinstance(data.get("data"), list) else data.get("segments") or []
    segments = [Segment.from_api(item) for item in items]
    cache.set(cache_key, segments, SEGMENT_LIST_CACHE_SECONDS)
    return segments


def segment_get(*, segment_id: str) -> Segment:
    """One segment. Raises NotFound, Unavailable, RateLimited or AuthError."""
    return Segment.from_api(get_client().get(path("/v1/segments/{}", segment_id)))


SEGMENT_SIZES_CACHE_SECONDS = 600


def segment_sizes() -> list[tuple[Segment, int]]:
    """Each segment with its number of customers, largest first, for the overview.

    One call for the segments and one (``limit=1``, read ``total``) per segment, so the answer is
    cached for ten minutes per project. Raises Unavailable, RateLimited or AuthError.
    """
    cache_key = _cache_key("segment-sizes")
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    sizes = [(segment, customer_list(segment_id=segment.id, limit=1).total) for segment in segment_list()]
    sizes.sort(key=lambda item: (-item[1], item[0].name))
    cache.set(cache_key, sizes, SEGMENT_SIZES_CACHE_SECONDS)
    return sizes
