"""The index's schedule on Django's task framework: a chain of sync tasks, each queueing the next one
``SEARCH_SYNC_SECONDS`` later, and out-of-turn passes when an import or bulk update has finished.

One chain is alive at a time: its token is in the state row, and a task of an older chain ends without
queueing another. ``ensure_scheduled()`` (called by ``prepare_dashboard`` and cheap enough for every list
page) starts a chain when none is due: on a fresh install, or when the last one died with its worker.
Passes themselves never overlap whatever runs them: each holds the index's lease (``sync.Lease``).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from .index import index_state
from .models import SearchIndexState
from .sync import run_pass

logger = logging.getLogger("customers_app.search")

# A process looks at the schedule at most this often (seconds) from ensure_scheduled().
CHECK_EVERY = 10.0
# Out-of-turn passes asked for within this many seconds of each other share one task.
REQUEST_COALESCE = timedelta(seconds=2)
_last_check = [0.0]


def _interval() -> timedelta:
    return timedelta(seconds=max(1.0, float(settings.SEARCH_SYNC_SECONDS)))


def _can_defer() -> bool:
    return sync_index.get_backend().supports_defer


@task()
def sync_index(chain: str = "", full: bool = False) -> dict:
    """One sync pass (a full load until the index is ready); as part of ``chain``, queues the next one."""
    if chain and not SearchIndexState.objects.filter(pk=1, chain=chain).exists():
        return {"kind": "stale chain"}  # a newer chain took over while this task waited in the queue
    try:
        return run_pass(full=full).as_dict()
    finally:
        if chain:
            _continue(chain)


def _continue(chain: str) -> None:
    _prune_finished()
    run_after = timezone.now() + _interval()
    if not SearchIndexState.objects.filter(pk=1, chain=chain).update(next_sync_at=run_after):
        return
    if _can_defer():
        sync_index.using(run_after=run_after).enqueue(chain=chain)
    # Without a queue that can wait (the immediate backend) the chain stops here; ensure_scheduled()
    # starts it again once it is overdue.


def _prune_finished() -> None:
    """The database queue keeps a row per task run: the sync's own (1,440 a day) go once a day old."""
    if "django_tasks_db" not in settings.INSTALLED_APPS:
        return
    from django_tasks_db.models import DBTaskResult

    old = timezone.now() - timedelta(days=1)
    DBTaskResult.objects.filter(task_path=sync_index.module_path, finished_at__lt=old).delete()


def _overdue_after() -> timedelta:
    """How late a chain's next pass may be before it is taken as dead (its worker busy or gone)."""
    return max(3 * _interval(), timedelta(seconds=float(settings.SEARCH_LEASE_SECONDS)) + _interval())


def ensure_scheduled(*, force: bool = False, first_in: float = 0) -> bool:
    """Starts the sync chain when none is alive; returns whether it started one. Cheap: at most one
    small query per process every few seconds (``force`` skips that wait). ``first_in``: seconds
    before the chain's first pass. Never raises."""
    now_monotonic = time.monotonic()
    if not force and now_monotonic - _last_check[0] < CHECK_EVERY:
        return False
    _last_check[0] = now_monotonic
    try:
        if not _can_defer():
            return False  # the immediate backend would run every pass inside the page
        state = index_state()
        now = timezone.now()
        if state.next_sync_at is not None and state.next_sync_at > now - _overdue_after():
            return False
        chain = uuid.uuid4().hex
        first = now + timedelta(seconds=first_in)
        started = SearchIndexState.objects.filter(pk=1, chain=state.chain, next_sync_at=state.next_sync_at).update(
            chain=chain, next_sync_at=first
        )
        if not started:
            return False  # another process started it at the same moment
        queued = sync_index.using(run_after=first) if first_in > 0 else sync_index
        transaction.on_commit(lambda: queued.enqueue(chain=chain))
        logger.info("search index: sync schedule started (chain %s)", chain[:8])
        return True
    except DatabaseError:
        logger.exception("search index: could not check the sync schedule")
        return False


def schedule_at_start() -> bool:
    """For ``prepare_dashboard``: the chain starts one ``SEARCH_SYNC_SECONDS`` after the start (the web
    server and its worker come up first, and a deployment's first minute is not spent on the index)."""
    return ensure_scheduled(force=True, first_in=_interval().total_seconds())


def sync_soon() -> None:
    """An out-of-turn incremental pass, e.g. once an import or bulk update has finished in Voucherify.

    A pass already running goes round again; requests close together share one queued task. Never raises.
    """
    try:
        index_state()
        now = timezone.now()
        first = (
            SearchIndexState.objects.filter(pk=1)
            .filter(Q(sync_requested_at__isnull=True) | Q(sync_requested_at__lt=now - REQUEST_COALESCE))
            .update(sync_requested_at=now)
        )
        if not first:
            SearchIndexState.objects.filter(pk=1).update(sync_requested_at=now)
            return
        transaction.on_commit(lambda: sync_index.enqueue())
    except Exception:  # the job's own page must not fail for the index
        logger.exception("search index: could not queue a sync pass")


def start_rebuild() -> None:
    """Empties the index and queues its full load (``manage.py search_index --rebuild``)."""
    from .index import clear

    clear()
    transaction.on_commit(lambda: sync_index.enqueue(full=True))
