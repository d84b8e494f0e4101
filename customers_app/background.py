"""Long jobs (exports, bulk updates of every match) on Django's task framework.

A job is a ``BackgroundJob`` row and one task, ``run_job``, that a worker process picks up
(``manage.py db_worker``; ``make run`` starts one). The worker that runs a job holds a lease on it
and renews it at every step (``JobRun.step``), which is also where progress, calls spent and Cancel
are handled. A job whose lease ran out (its worker was killed or restarted) is queued again by
``resume_stale`` and carries on from its ``checkpoint``; handlers are written so that running a
step twice is harmless.

Every upstream call a job makes counts as background work in the API budget
(``services.budget.background``): it keeps to its share and pauses while agents need the calls.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import BackgroundJob
from .services import budget
from .services.voucherify import VoucherifyError

logger = logging.getLogger("customers_app.background")

# What runs each kind of job: a function taking a JobRun.
HANDLERS = {
    BackgroundJob.Kind.EXPORT: "customers_app.export_jobs.run_export",
    BackgroundJob.Kind.BULK_UPDATE: "customers_app.bulk_jobs.run_bulk_update",
    BackgroundJob.Kind.ACCESS_PACK: "customers_app.privacy_pack.run_access_pack",
}


class Cancelled(Exception):
    """Someone pressed Cancel: the job stops between two steps."""


class LeaseLost(Exception):
    """Another worker took the job over (this one was thought dead): stop without touching it."""


def _lease() -> timedelta:
    return timedelta(seconds=settings.BACKGROUND_JOB_STALE_SECONDS)


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def start_job(*, kind: str, user, description: str, params: dict, calls_estimate: int | None = None,
              total: int | None = None) -> BackgroundJob:  # fmt: skip
    """Records a job and queues its task once the record is committed."""
    signed_in = getattr(user, "is_authenticated", False)
    job = BackgroundJob.objects.create(
        kind=kind,
        created_by=user if signed_in else None,
        created_by_name=user.get_username() if signed_in else "",
        description=description,
        params=params,
        calls_estimate=calls_estimate,
        total=total,
    )
    transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: BackgroundJob) -> None:
    run_job.enqueue(str(job.id))


def request_cancel(job: BackgroundJob) -> None:
    """Cancel: a queued job ends at once; a running one stops at its next step."""
    if job.is_finished:
        return
    BackgroundJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    cancelled_now = BackgroundJob.objects.filter(pk=job.pk, status=BackgroundJob.Status.QUEUED).update(
        status=BackgroundJob.Status.CANCELLED, finished_at=timezone.now(), message="Cancelled before it started."
    )
    if not cancelled_now:
        logger.info("cancel requested for running job %s", job.pk)


def resume_stale() -> int:
    """Queues again every running job whose worker stopped renewing its lease; returns how many."""
    stale = BackgroundJob.objects.filter(status=BackgroundJob.Status.RUNNING, lease_until__lt=timezone.now())
    count = 0
    for job in stale:
        # Back to the queue once per interruption, however many pages notice it at the same moment.
        requeued = BackgroundJob.objects.filter(pk=job.pk, status=job.status, lease_until=job.lease_until).update(
            status=BackgroundJob.Status.QUEUED, lease_until=None, runner="", resumed=job.resumed + 1
        )
        if requeued:
            logger.warning("job %s was interrupted (its worker stopped); queued again", job.pk)
            _enqueue(job)
            count += 1
    return count


def _claim(job_id: str) -> BackgroundJob | None:
    """Takes the job if nobody holds a live lease on it; None when it is finished or someone else runs it."""
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            BackgroundJob.objects.filter(pk=job_id)
            .filter(status__in=(BackgroundJob.Status.QUEUED, BackgroundJob.Status.RUNNING))
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(status=BackgroundJob.Status.RUNNING, runner=runner_name(), lease_until=now + _lease())
        )
        if not claimed:
            return None
        job = BackgroundJob.objects.get(pk=job_id)
        if job.started_at is None:
            job.started_at = now
            job.save(update_fields=["started_at"])
    return job


class JobRun:
    """What a handler gets: the job, and ``step()`` to call between units of work."""

    def __init__(self, job: BackgroundJob):
        self.job = job
        self._spent = [0]  # replaced by the budget's counter of this run's calls
        self._calls_before = job.calls_spent

    @property
    def calls_spent(self) -> int:
        return self._calls_before + self._spent[0]

    def step(self, **fields) -> None:
        """Saves progress (``done``, ``total``, ``checkpoint``, ``report``…), renews the lease, and
        raises Cancelled when Cancel was pressed (LeaseLost when another worker took over)."""
        for name, value in fields.items():
            setattr(self.job, name, value)
        values = {name: getattr(self.job, name) for name in fields}
        values.update(calls_spent=self.calls_spent, lease_until=timezone.now() + _lease())
        updated = BackgroundJob.objects.filter(pk=self.job.pk, runner=self.job.runner).update(**values)
        if not updated:
            raise LeaseLost
        if BackgroundJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise Cancelled

    def should_stop(self) -> bool:
        """For waits inside a step: true once Cancel was pressed."""
        return BackgroundJob.objects.filter(pk=self.job.pk, cancel_requested=True).exists()


def _finish(run: JobRun, status: str, message: str, **fields) -> None:
    BackgroundJob.objects.filter(pk=run.job.pk, runner=run.job.runner).update(
        status=status,
        message=message,
        finished_at=timezone.now(),
        calls_spent=run.calls_spent,
        lease_until=None,
        **fields,
    )


@task()
def run_job(job_id: str) -> None:
    """Runs (or resumes) one background job to its end."""
    job = _claim(job_id)
    if job is None:
        return
    handler = import_string(HANDLERS[job.kind])
    run = JobRun(job)
    with budget.background(should_stop=run.should_stop) as spent:
        run._spent = spent
        try:
            message = handler(run)
        except Cancelled:
            on_cancel = getattr(handler, "on_cancel", None)
            if on_cancel is not None:
                on_cancel(run)
            _finish(run, BackgroundJob.Status.CANCELLED, f"Cancelled after {run.job.done:,} of the work was done.")
        except LeaseLost:
            logger.warning("job %s was taken over by another worker; this run stops", job_id)
        except budget.Refused:
            _finish(run, BackgroundJob.Status.CANCELLED, "Cancelled while waiting for the API budget.")
        except VoucherifyError as error:
            logger.warning("job %s failed upstream: %s request_id=%s", job_id, type(error).__name__, error.request_id)
            request_id = f" (Voucherify request id {error.request_id})" if error.request_id else ""
            _finish(run, BackgroundJob.Status.FAILED, f"Voucherify failed: {error.message}{request_id}.")
        except Exception:
            logger.exception("job %s crashed", job_id)
            _finish(run, BackgroundJob.Status.FAILED, "The job failed unexpectedly; the error is in the worker's log.")
        else:
            _finish(run, BackgroundJob.Status.SUCCEEDED, message or "Done.")
