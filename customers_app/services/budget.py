"""One Voucherify API budget for the whole deployment: every upstream call asks the governor first.

A Voucherify project has one rate limit (100 calls a minute on Business, 2,000 on Organization)
shared by every agent, job and other client of the project; going over blocks all of them. The
governor counts the deployment's calls over the same rolling window, in a store every thread,
process and machine shares (the dashboard's database, or Redis when ``CACHE_URL`` is one), and
decides before each call:

- interactive calls (pages, tabs, the jump box) go first: they are refused only when the budget is
  really gone, and then at once, with the moment Voucherify accepts calls again;
- background calls (exports, bulk jobs) may use at most ``VOUCHERIFY_BACKGROUND_SHARE`` of the
  window and pause whenever fewer than the agents' reserve of calls remain; their callers wait.

Every answer corrects the count from ``X-Rate-Limit-Remaining``: calls other clients of the
project made show up there and are booked as ``external``. The plan's limit comes from
``VOUCHERIFY_RATE_LIMIT_PER_MINUTE`` or, failing that, the ``X-Rate-Limit-Limit`` header.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import DatabaseError

logger = logging.getLogger("customers_app.budget")


def _store_errors() -> tuple[type[Exception], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency
        return (DatabaseError,)
    return (DatabaseError, RedisError)


STORE_ERRORS = _store_errors()

SLOTS = 60
INTERACTIVE = "interactive"
BACKGROUND = "background"
EXTERNAL = "external"
KINDS = (INTERACTIVE, BACKGROUND, EXTERNAL)


@dataclass(frozen=True)
class Usage:
    """The window as the governor sees it."""

    limit: int | None
    calls: dict[str, int] = field(default_factory=dict)  # per kind, over the rolling window
    blocked_until: float | None = None  # Unix seconds; Voucherify said 429 until then
    window_seconds: float = 60.0
    # Other clients' calls this thread had found when the window was read for a booking (``_observe``).
    others_found: int = field(default=0, compare=False)

    @property
    def used(self) -> int:
        return sum(self.calls.values())

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def background_limit(self) -> int | None:
        return None if self.limit is None else max(1, math.floor(self.limit * settings.VOUCHERIFY_BACKGROUND_SHARE))

    @property
    def reserve(self) -> int | None:
        """Calls kept for agents: background work pauses when fewer than this remain."""
        if self.limit is None:
            return None
        return max(1, math.ceil(self.limit * settings.VOUCHERIFY_AGENT_RESERVE))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    usage: Usage
    retry_at: float | None = None  # when refused: when a call of this kind may fit again


class Refused(Exception):
    """A call the governor did not let through; ``stopped``: the waiting job was asked to stop."""

    def __init__(self, decision: Decision, *, stopped: bool = False):
        super().__init__("The Voucherify API budget is used up")
        self.decision = decision
        self.stopped = stopped


# Priority of the calls made by this thread (or task) ---------------------------------------------


_priority: contextvars.ContextVar[str] = contextvars.ContextVar("voucherify_priority", default=INTERACTIVE)
_spent: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("voucherify_spent", default=None)
_should_stop: contextvars.ContextVar = contextvars.ContextVar("voucherify_should_stop", default=None)


@contextlib.contextmanager
def background(should_stop=None) -> Iterator[list[int]]:
    """Calls made inside count as background work; yields a one-item list holding how many were made.

    ``should_stop()`` is asked while a call waits for room (a job's Cancel button).
    """
    counter = [0]
    tokens = (_priority.set(BACKGROUND), _spent.set(counter), _should_stop.set(should_stop))
    try:
        yield counter
    finally:
        _priority.reset(tokens[0])
        _spent.reset(tokens[1])
        _should_stop.reset(tokens[2])


@contextlib.contextmanager
def counting() -> Iterator[list[int]]:
    """Counts the upstream calls made inside (at the current priority)."""
    counter = [0]
    token = _spent.set(counter)
    try:
        yield counter
    finally:
        _spent.reset(token)


def current_priority() -> str:
    return _priority.get()


# The governor ------------------------------------------------------------------------------------


def _window() -> float:
    return settings.VOUCHERIFY_RATE_LIMIT_WINDOW_SECONDS


def _slot_seconds() -> float:
    return _window() / SLOTS


def _slot_at(moment: float) -> int:
    return int(moment // _slot_seconds())


def configured_limit() -> int | None:
    return settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE or None


def decide(kind: str, slots: list[tuple[int, str, int]], limit: int | None, blocked_until: float | None,
           now: float) -> Decision:  # fmt: skip
    """Whether one more call of ``kind`` fits, from the window's ``(slot, kind, calls)`` rows."""
    calls = dict.fromkeys(KINDS, 0)
    for _, slot_kind, count in slots:
        calls[slot_kind] = calls.get(slot_kind, 0) + count
    usage = Usage(limit=limit, calls=calls, blocked_until=blocked_until, window_seconds=_window())
    if blocked_until is not None and blocked_until > now:
        return Decision(False, usage, retry_at=blocked_until)
    if limit is None:
        return Decision(True, usage)
    if kind == BACKGROUND:
        over_share = calls[BACKGROUND] >= usage.background_limit
        into_reserve = limit - usage.used <= usage.reserve
        if over_share or into_reserve:
            return Decision(False, usage, retry_at=_room_at(slots, usage, kind, now))
        return Decision(True, usage)
    if usage.used >= limit:
        return Decision(False, usage, retry_at=_room_at(slots, usage, kind, now))
    return Decision(True, usage)


def _room_at(slots: list[tuple[int, str, int]], usage: Usage, kind: str, now: float) -> float:
    """The moment enough old slots have left the window for a call of ``kind`` to fit."""
    per_slot: dict[int, tuple[int, int]] = {}
    for slot, slot_kind, count in slots:
        total, background_calls = per_slot.get(slot, (0, 0))
        per_slot[slot] = (total + count, background_calls + (count if slot_kind == BACKGROUND else 0))
    used, background_used = usage.used, usage.calls.get(BACKGROUND, 0)
    for slot in sorted(per_slot):
        total, background_calls = per_slot[slot]
        used -= total
        background_used -= background_calls
        leaves_at = (slot + SLOTS) * _slot_seconds()
        if kind == BACKGROUND:
            if background_used < usage.background_limit and usage.limit - used > usage.reserve:
                return leaves_at
        elif used < usage.limit:
            return leaves_at
    return now + _slot_seconds()


def acquire(kind: str | None = None) -> Decision:
    """Books one call of ``kind`` (default: this context's priority) if it fits; says so either way.

    If the store itself fails (a locked or unreachable database or Redis), the call goes through
    uncounted: the governor must never be what takes the dashboard down.
    """
    kind = kind or current_priority()
    _write_others_calls()  # so this booking's snapshot has them, and its answer does not count them again
    try:
        decision = store().take(kind, configured_limit(), time.time())
    except STORE_ERRORS as error:
        logger.warning("API budget store unavailable, call not counted: %s", type(error).__name__)
        decision = Decision(True, Usage(limit=None, window_seconds=_window()))
    if decision.allowed:
        counter = _spent.get()
        if counter is not None:
            counter[0] += 1
        decision = replace(decision, usage=replace(decision.usage, others_found=_others_found()))
    return decision


def wait_for_room(kind: str = BACKGROUND, *, should_stop=None, max_wait: float | None = None) -> Decision:
    """Books one call, sleeping until it fits (background work); ``should_stop()`` is checked between naps.

    Raises ``Refused`` when ``max_wait`` passes or ``should_stop()`` says so.
    """
    started = time.monotonic()
    should_stop = should_stop or _should_stop.get()
    while True:
        decision = acquire(kind)
        if decision.allowed:
            return decision
        if should_stop is not None and should_stop():
            raise Refused(decision, stopped=True)
        pause = max(0.05, min((decision.retry_at or 0) - time.time(), 1.0))
        if max_wait is not None and time.monotonic() - started + pause > max_wait:
            raise Refused(decision)
        time.sleep(pause)


def observe(*, limit: int | None, remaining: int | None, retry_at: float | None, usage: Usage | None) -> None:
    """Corrects the window from an answer's rate-limit headers (``usage``: as seen when the call was booked)."""
    previous, _seen.usage = getattr(_seen, "usage", None), None
    try:
        seen = _observe(limit, remaining, retry_at, usage)
    except STORE_ERRORS as error:
        logger.warning("API budget store unavailable, answer not recorded: %s", type(error).__name__)
        return
    # A page's answers can come back in another order than its calls were booked: it shows the fuller view.
    fuller = previous is not None and seen is not None and previous.used > seen.used
    _seen.usage = previous if fuller else seen


def _observe(limit: int | None, remaining: int | None, retry_at: float | None, usage: Usage | None) -> Usage | None:
    """Books what the answer says; returns the window as it now stands (None when the booking is unknown)."""
    if limit is not None and configured_limit() is None and (usage is None or usage.limit != limit):
        store().learn_limit(limit)
    if usage is None:
        if retry_at is not None:
            store().block_until(retry_at)
        return None
    calls = dict(usage.calls)
    calls[current_priority()] = calls.get(current_priority(), 0) + 1  # the call booked for this answer
    effective_limit = configured_limit() or limit or usage.limit
    blocked_until = usage.blocked_until
    if retry_at is not None:
        store().block_until(retry_at)
        blocked_until = max(retry_at, blocked_until or retry_at)
    elif remaining is not None and effective_limit is not None:
        # What we expected to be left after our call; fewer left means other clients spent the rest,
        # less those this thread found since the booking (in the answer to a call booked after it).
        expected = effective_limit - usage.used - 1
        unseen = expected - remaining - (_others_found() - usage.others_found)
        if unseen > 0:
            _book_others_calls(unseen, time.time())
            calls[EXTERNAL] = calls.get(EXTERNAL, 0) + unseen
    return Usage(limit=effective_limit, calls=calls, blocked_until=blocked_until, window_seconds=usage.window_seconds)


def usage() -> Usage:
    _write_others_calls()
    return store().usage(configured_limit(), time.time())


# The window as this thread's request last saw it: a page's footer shows the figures its own call
# left behind (the booking plus what the answer said) instead of reading the store once more.
_seen = threading.local()


def _forget_seen(**_) -> None:
    _seen.usage = None


request_started.connect(_forget_seen, dispatch_uid="customers_app.services.budget.forget_seen")


# Other clients' calls that a page's answer revealed are written once the page has been sent
# (``request_finished``, as view records are): the page does not wait for that write. The thread's
# next booking writes them first, so a page with several calls measures each against them.
_others = threading.local()


def _others_found() -> int:
    """Other clients' calls this thread has found in answers so far (only ever grows)."""
    return getattr(_others, "found", 0)


def _book_others_calls(calls: int, at: float) -> None:
    _others.found = _others_found() + calls
    if getattr(_others, "in_request", False):
        _others.__dict__.setdefault("pending", []).append((calls, at))
    else:
        store().add(EXTERNAL, calls, at)


def _write_others_calls(**_) -> None:
    pending = getattr(_others, "pending", None)
    if not pending:
        return
    _others.pending = []
    from django.db import connection

    was_closed = connection.connection is None  # request_finished may have closed an old one first
    try:
        for calls, at in pending:
            store().add(EXTERNAL, calls, at)
    except STORE_ERRORS as error:
        logger.warning("API budget store unavailable, other clients' calls not recorded: %s", type(error).__name__)
    finally:
        if was_closed:
            connection.close()


def _request_begins(**_) -> None:
    _write_others_calls()
    _others.in_request = True


def _request_ends(**_) -> None:
    _others.in_request = False
    _write_others_calls()


request_started.connect(_request_begins, dispatch_uid="customers_app.services.budget.request_begins")
request_finished.connect(_request_ends, dispatch_uid="customers_app.services.budget.request_ends")


def page_usage() -> Usage:
    """The window for a page: as its last Voucherify call left it in this request, else read now."""
    seen = getattr(_seen, "usage", None)
    return seen if seen is not None else usage()


def reset() -> None:
    """Forgets every booked call (tests)."""
    _seen.usage = None
    _others.pending = []
    store().reset()


# Stores ------------------------------------------------------------------------------------------


class DatabaseStore:
    """The window in the dashboard's database: one row per (slot, kind), plus the learned limit and block.

    A booking is one short transaction; on SQLite it is ``IMMEDIATE`` (the dashboard's setting), on
    PostgreSQL its first statement writes the meta row and so serialises concurrent bookings.
    """

    def __init__(self):
        from ..models import BudgetMeta, BudgetSlot

        self.slots, self.meta = BudgetSlot._meta.db_table, BudgetMeta._meta.db_table

    def _rows(self, cursor, oldest: int) -> list[tuple[int, str, int]]:
        cursor.execute(f"SELECT slot, kind, calls FROM {self.slots} WHERE slot >= %s", [oldest])  # noqa: S608
        return [(slot, kind, calls) for slot, kind, calls in cursor.fetchall()]

    def _meta(self, cursor, *, lock: bool = False) -> tuple[int | None, float | None]:
        if lock:  # takes the row's lock (and creates the row if a test flushed it)
            cursor.execute(
                f"INSERT INTO {self.meta} (id, touched) VALUES (1, 0) "  # noqa: S608
                f"ON CONFLICT (id) DO UPDATE SET touched = {self.meta}.touched + 1 "
                "RETURNING learned_limit, blocked_until"
            )
        else:
            cursor.execute(f"SELECT learned_limit, blocked_until FROM {self.meta} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
        return (row[0], row[1]) if row else (None, None)

    def _book(self, cursor, slot: int, kind: str, calls: int) -> None:
        cursor.execute(
            f"INSERT INTO {self.slots} (slot, kind, calls) VALUES (%s, %s, %s) "  # noqa: S608
            f"ON CONFLICT (slot, kind) DO UPDATE SET calls = {self.slots}.calls + %s",
            [slot, kind, calls, calls],
        )

    def take(self, kind: str, limit: int | None, now: float) -> Decision:
        from django.db import connection, transaction

        current = _slot_at(now)
        with transaction.atomic(), connection.cursor() as cursor:
            learned, blocked_until = self._meta(cursor, lock=True)
            slots = self._rows(cursor, current - SLOTS + 1)
            decision = decide(kind, slots, limit or learned, blocked_until, now)
            if decision.allowed:
                self._book(cursor, current, kind, 1)
                if not slots:  # a new window: drop the old slots while it is cheap
                    cursor.execute(f"DELETE FROM {self.slots} WHERE slot < %s", [current - SLOTS])  # noqa: S608
        return decision

    def add(self, kind: str, calls: int, now: float) -> None:
        from django.db import connection, transaction

        with transaction.atomic(), connection.cursor() as cursor:
            self._book(cursor, _slot_at(now), kind, calls)

    def learn_limit(self, limit: int) -> None:
        from django.db import connection, transaction

        with transaction.atomic(), connection.cursor() as cursor:
            self._meta(cursor, lock=True)
            cursor.execute(f"UPDATE {self.meta} SET learned_limit = %s WHERE id = 1", [limit])  # noqa: S608

    def block_until(self, moment: float) -> None:
        from django.db import connection, transaction

        with transaction.atomic(), connection.cursor() as cursor:
            self._meta(cursor, lock=True)
            cursor.execute(
                f"UPDATE {self.meta} SET blocked_until = %s "  # noqa: S608
                "WHERE id = 1 AND (blocked_until IS NULL OR blocked_until < %s)",
                [moment, moment],
            )

    def usage(self, limit: int | None, now: float) -> Usage:
        from django.db import connection

        with connection.cursor() as cursor:
            learned, blocked_until = self._meta(cursor)
            slots = self._rows(cursor, _slot_at(now) - SLOTS + 1)
        return decide(INTERACTIVE, slots, limit or learned, blocked_until, now).usage

    def reset(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.slots}")  # noqa: S608
            cursor.execute(f"UPDATE {self.meta} SET learned_limit = NULL, blocked_until = NULL")  # noqa: S608


_TAKE_SCRIPT = """
local prefix, current, slots = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rows = {}
for slot = current - slots + 1, current do
  local fields = redis.call('HGETALL', prefix .. slot)
  for i = 1, #fields, 2 do
    table.insert(rows, {slot, fields[i], tonumber(fields[i + 1])})
  end
end
local meta = redis.call('HMGET', prefix .. 'meta', 'learned_limit', 'blocked_until')
return {rows, meta[1] or false, meta[2] or false}
"""

_BOOK_SCRIPT = """
local key = ARGV[1] .. ARGV[2]
redis.call('HINCRBY', key, ARGV[3], tonumber(ARGV[4]))
redis.call('EXPIRE', key, tonumber(ARGV[5]))
return 1
"""


class RedisStore:
    """The window in Redis (one hash per slot, expiring after two windows); bookings are serialised
    by a short lock so a check and its booking cannot interleave with another machine's."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = "voucherify:budget:"
        self.read = self.client.register_script(_TAKE_SCRIPT)
        self.book = self.client.register_script(_BOOK_SCRIPT)

    def _state(self, now: float):
        rows, learned, blocked = self.read(args=[self.prefix, _slot_at(now), SLOTS])
        slots = [(int(slot), kind.decode(), int(calls)) for slot, kind, calls in rows]
        return slots, (int(learned) if learned else None), (float(blocked) if blocked else None)

    def take(self, kind: str, limit: int | None, now: float) -> Decision:
        with self.client.lock(self.prefix + "lock", timeout=2, blocking_timeout=2):
            slots, learned, blocked_until = self._state(now)
            decision = decide(kind, slots, limit or learned, blocked_until, now)
            if decision.allowed:
                self.book(args=[self.prefix, _slot_at(now), kind, 1, math.ceil(2 * _window()) + 1])
        return decision

    def add(self, kind: str, calls: int, now: float) -> None:
        self.book(args=[self.prefix, _slot_at(now), kind, calls, math.ceil(2 * _window()) + 1])

    def learn_limit(self, limit: int) -> None:
        self.client.hset(self.prefix + "meta", "learned_limit", limit)

    def block_until(self, moment: float) -> None:
        current = self.client.hget(self.prefix + "meta", "blocked_until")
        if current is None or float(current) < moment:
            self.client.hset(self.prefix + "meta", "blocked_until", moment)

    def usage(self, limit: int | None, now: float) -> Usage:
        slots, learned, blocked_until = self._state(now)
        return decide(INTERACTIVE, slots, limit or learned, blocked_until, now).usage

    def reset(self) -> None:
        keys = list(self.client.scan_iter(self.prefix + "*"))
        if keys:
            self.client.delete(*keys)


@cache
def _redis_store(url: str) -> RedisStore:
    return RedisStore(url)


@cache
def _database_store() -> DatabaseStore:
    return DatabaseStore()


def store() -> DatabaseStore | RedisStore:
    """Redis when the cache is Redis (shared by every machine already), else the dashboard's database."""
    url = settings.VOUCHERIFY_BUDGET_REDIS_URL
    return _redis_store(url) if url else _database_store()
