"""Voucherify's rate limit as the sandbox enforces it: calls per application id over a rolling window.

The window is cut into 60 slots (one second each for Voucherify's 60 s window) and each slot's count
is a row in the sandbox's database, so every gunicorn worker and thread, and the dashboard's own
in-process calls, draw on the same count. A check-and-count is one short write transaction (about a
tenth of a millisecond on SQLite in WAL mode); a call that is refused is not counted and changes
nothing.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction

from sandbox.models import RateLimitSlot
from sandbox.routers import SANDBOX_DB

SLOTS = 60
TABLE = RateLimitSlot._meta.db_table
# One check in this many also deletes slots that have left the window.
PRUNE_ONE_IN = 50


@dataclass(frozen=True)
class Verdict:
    """The outcome of one call: its headers, and for a refused call when calls are accepted again."""

    allowed: bool
    limit: int
    remaining: int
    retry_at: float | None = None  # Unix seconds

    def headers(self) -> dict[str, str]:
        headers = {"X-Rate-Limit-Limit": str(self.limit), "X-Rate-Limit-Remaining": str(self.remaining)}
        if self.retry_at is not None:
            headers.update(
                {
                    "Retry-After": str(max(1, math.ceil(self.retry_at - time.time()))),
                    "X-Rate-Limit-Retry": str(math.ceil(self.retry_at)),
                    "X-Rate-Limit-Type": "api_calls",
                }
            )
        return headers


def limit_per_window() -> int:
    return settings.SANDBOX_RATE_LIMIT_PER_MINUTE


def take(app_id: str) -> Verdict | None:
    """Counts one call of ``app_id`` if the window has room; None when the limit is off."""
    limit = limit_per_window()
    if limit <= 0:
        return None
    slot_seconds = settings.SANDBOX_RATE_LIMIT_WINDOW_SECONDS / SLOTS
    moment = time.time()
    current = int(moment // slot_seconds)
    oldest = current - SLOTS + 1
    with transaction.atomic(using=SANDBOX_DB), connections[SANDBOX_DB].cursor() as cursor:
        cursor.execute(
            f"SELECT slot, calls FROM {TABLE} WHERE app_id = %s AND slot >= %s ORDER BY slot",  # noqa: S608
            [app_id, oldest],
        )
        slots = cursor.fetchall()
        used = sum(calls for _, calls in slots)
        if used >= limit:
            return Verdict(False, limit, 0, retry_at=_room_at(slots, used, limit, slot_seconds))
        cursor.execute(
            f"INSERT INTO {TABLE} (app_id, slot, calls) VALUES (%s, %s, 1) "  # noqa: S608
            "ON CONFLICT (app_id, slot) DO UPDATE SET calls = calls + 1",
            [app_id, current],
        )
        if random.randrange(PRUNE_ONE_IN) == 0:
            cursor.execute(f"DELETE FROM {TABLE} WHERE slot < %s", [oldest])  # noqa: S608
    return Verdict(True, limit, limit - used - 1)


def _room_at(slots: list[tuple[int, int]], used: int, limit: int, slot_seconds: float) -> float:
    """When enough of the oldest slots have left the window for one more call to fit."""
    for slot, calls in slots:
        used -= calls
        if used < limit:
            return (slot + SLOTS) * slot_seconds
    return (slots[-1][0] + SLOTS) * slot_seconds if slots else time.time()


def reset() -> None:
    """Forgets every counted call (tests, and ``sandbox_seed --reset``)."""
    RateLimitSlot.objects.all().delete()
