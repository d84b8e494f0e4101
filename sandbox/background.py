"""Background work of the sandbox (async actions, exports) that survives a restart of the process.

Each job row names the process that runs it (``runner``: host, pid and the pid's start time, so a
reused pid is not mistaken for the old process) and that process refreshes ``heartbeat_at`` while
it works. A job whose runner is gone is an orphan: the first API call a process serves, and every
read of a job, hands orphans to the module that owns them (``recover``), which finishes or fails
them with a reason, so no job stays ``IN_PROGRESS`` forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.db import connections, transaction

from sandbox.routers import SANDBOX_DB

logger = logging.getLogger(__name__)

# A runner on another host is judged by its heartbeat alone.
STALE_AFTER = timedelta(seconds=120)
HEARTBEAT_EVERY = timedelta(seconds=2)

_HOST = socket.gethostname()
_swept_in: int | None = None
_sweep_lock = threading.Lock()


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), or None.

    A zombie (killed, not yet reaped by its parent) counts as gone: "dead" is its only future.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20:
        return None
    return "gone" if fields[0] in (b"Z", b"X") else fields[19].decode()


def runner_id() -> str:
    """This process, as written into the jobs it runs (computed per call: gunicorn forks workers)."""
    pid = os.getpid()
    return f"{_HOST}:{pid}:{_start_ticks(pid) or '?'}"


def _runner_alive(runner: str) -> bool | None:
    """Whether the process named by ``runner`` still runs; None when it is on another host."""
    host, _, rest = runner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != _HOST:
        return None
    if not pid_text.isdigit():
        return False
    current = _start_ticks(int(pid_text))
    if current == "gone":
        return False
    if current is None:
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return ticks == "?"
    return current == ticks


def is_orphan(job, now) -> bool:
    """A job that is not finished but whose runner is gone (or silent for ``STALE_AFTER``)."""
    if not job.runner:
        return True
    alive = _runner_alive(job.runner)
    if alive is None:
        return job.heartbeat_at is None or now - job.heartbeat_at > STALE_AFTER
    return not alive


def claim(model, job_id: str, previous_runner: str) -> bool:
    """Takes an orphan over; False when another process got there first."""
    from sandbox.api import now

    with transaction.atomic(using=SANDBOX_DB):
        taken = model.objects.filter(id=job_id, runner=previous_runner).update(
            runner=runner_id(), heartbeat_at=now()
        )
    return taken == 1


def start_thread(target, job_id: str) -> None:
    """Runs ``target(job_id)`` on a daemon thread that closes its database connections at the end."""

    def run() -> None:
        try:
            target(job_id)
        except Exception:
            logger.exception("sandbox job %s crashed", job_id)
        finally:
            connections.close_all()

    threading.Thread(target=run, name=f"sandbox-{job_id}", daemon=True).start()


class Heartbeat:
    """Refreshes a job's ``heartbeat_at`` at most every ``HEARTBEAT_EVERY`` (call ``beat`` often)."""

    def __init__(self, model, job_id: str):
        self.model, self.job_id, self.last = model, job_id, None

    def beat(self, **fields) -> None:
        from sandbox.api import now

        moment = now()
        if fields or self.last is None or moment - self.last >= HEARTBEAT_EVERY:
            self.model.objects.filter(id=self.job_id).update(heartbeat_at=moment, updated_at=moment, **fields)
            self.last = moment


def sweep_once() -> None:
    """Recovers every orphaned job, once per process (the first API call it serves)."""
    global _swept_in
    pid = os.getpid()
    if _swept_in == pid:
        return
    with _sweep_lock:
        if _swept_in == pid:
            return
        _swept_in = pid
        from sandbox import exports, jobs

        try:
            jobs.recover_orphans()
            exports.recover_orphans()
        except Exception:
            logger.exception("recovering sandbox jobs failed")
