"""What a job will cost before it starts: "about 1,010 calls, about 11 minutes at your plan's 100 calls/minute"."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .services import budget


@dataclass(frozen=True)
class Duration:
    calls: int
    minutes: int | None  # None when the plan's limit is not known yet
    per_minute: int | None  # calls a minute background work may spend now

    def __str__(self) -> str:
        if self.minutes is None:
            return "the time depends on the plan's rate limit (not known yet)"
        if self.minutes <= 1:
            return "under a minute"
        return f"about {self.minutes} minutes"


def job_duration(calls: int) -> Duration:
    """How long ``calls`` background calls take at the plan's limit, given what the team uses now."""
    usage = budget.usage()
    if usage.limit is None:
        return Duration(calls, None, None)
    per_window = max(1, min(usage.background_limit, usage.limit - usage.reserve - usage.calls["interactive"]))
    per_minute = max(1, round(per_window * 60 / usage.window_seconds))
    return Duration(calls, math.ceil(calls / per_minute), per_minute)


def import_cost(rows: int) -> int:
    """An import is one call that sends the file; Voucherify works through it on its own. Following
    it on the job page then costs one call per look (every 2 s while the page is open)."""
    return 1
