"""Jobs started from the dashboard and the page that follows one to its end."""

from __future__ import annotations

import contextlib
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from .. import storage
from ..background import request_cancel, resume_stale
from ..csv_import import import_files_cleanup
from ..export_jobs import purge_expired_exports
from ..jobs import failed_rows, job_refresh, rejected_rows_csv, sent_file_exists
from ..models import BackgroundJob, Job
from ..roles import BULK_UPDATE, EXPORT, IMPORT, VIEW_AUDIT, perm
from ..services.voucherify import NotFound, VoucherifyError
from ..types import FINISHED_ASYNC_STATUSES
from ..view_records import EXPORT_DOWNLOAD, REJECTED_ROWS_DOWNLOAD, record_view

JOBS_PER_PAGE = 25
REFRESHED_ON_LIST = 5


def can_see_jobs(user) -> bool:
    """Jobs are for the people who can start them: importers, bulk updaters and exporters."""
    return any(user.has_perm(perm(name)) for name in (IMPORT, BULK_UPDATE, EXPORT))


def jobs_permission_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_see_jobs(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@jobs_permission_required
@require_GET
def job_list_view(request):
    """Lists the imports and bulk updates started from the dashboard, newest first."""
    import_files_cleanup()  # on the way: abandoned uploads after 24 hours, sent files after 7 days
    purge_expired_exports()
    resume_stale()
    dashboard_jobs = BackgroundJob.objects.all()[:JOBS_PER_PAGE]
    page = Paginator(Job.objects.select_related("created_by"), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    # Unfinished jobs nobody has opened since: ask Voucherify, a few at most so the page stays quick.
    unfinished = [job for job in page.object_list if job.status not in FINISHED_ASYNC_STATUSES]
    for job in unfinished[:REFRESHED_ON_LIST]:
        with contextlib.suppress(VoucherifyError):
            job_refresh(job=job, async_action_id=job.async_action_id)
    context = {"page": page, "dashboard_jobs": dashboard_jobs, "nav": "jobs"}
    return render(request, "jobs/list.html", context)


def poll_seconds(action) -> int:
    """Every look at an async action is an API call: often while it is young, sparingly later."""
    if action.created_at is None:
        return 5
    age = (timezone.now() - action.created_at).total_seconds()
    return 2 if age < 60 else 5 if age < 600 else 15


@jobs_permission_required
@require_GET
@vary_on_headers("HX-Request")
def job_detail_view(request, async_action_id: str):
    """Follows one job while Voucherify works on it, then shows what failed and why."""
    job = Job.objects.filter(async_action_id=async_action_id).select_related("created_by").first()
    try:
        action = job_refresh(job=job, async_action_id=async_action_id)
    except NotFound:
        raise Http404("No such job") from None
    failures = failed_rows(action) if action.is_finished else []
    context = {
        "job": job,
        "action": action,
        "poll_seconds": poll_seconds(action),
        "result": action.result,
        "failures": failures[:500],
        "failure_count": len(failures),
        "can_download_rejected": bool(job and any(isinstance(f["row"], int) for f in failures)),
        "nav": "jobs",
    }
    template_name = "jobs/detail.html"
    if request.htmx and not request.htmx.history_restore_request:
        template_name += "#status"
    return render(request, template_name, context)


@jobs_permission_required
@require_GET
def job_rejected_rows_view(request, async_action_id: str):
    """Downloads the rows Voucherify rejected, as sent plus a reason column, to fix and upload again."""
    job = Job.objects.filter(async_action_id=async_action_id, kind=Job.Kind.IMPORT).first()
    if job is None:
        raise Http404("No such import")
    try:
        action = job_refresh(job=job, async_action_id=async_action_id)
    except NotFound:
        raise Http404("No such job") from None
    failures = failed_rows(action)
    if not sent_file_exists(job) and not failures:
        raise Http404("Nothing was rejected")
    response = StreamingHttpResponse(
        rejected_rows_csv(job=job, failures=failures), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="rejected-rows-{job.async_action_id}.csv"'
    record_view(request, rows=len(failures), what=REJECTED_ROWS_DOWNLOAD)
    return response


# Jobs the dashboard runs itself (exports, bulk updates of every match) ---------------------------


def _background_job(job_id) -> BackgroundJob:
    job = BackgroundJob.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job")
    return job


def _may_manage(job: BackgroundJob, user) -> bool:
    """The person who started a job, and admins, may cancel it and fetch its file."""
    return job.created_by_id == user.pk or user.has_perm(perm(VIEW_AUDIT))


@jobs_permission_required
@require_GET
@vary_on_headers("HX-Request")
def background_job_view(request, job_id):
    """Follows a dashboard job: progress, calls spent against the estimate, report, Cancel, Download."""
    resume_stale()  # a job whose worker died is queued again as soon as anyone looks
    job = _background_job(job_id)
    context = {
        "job": job,
        "may_manage": _may_manage(job, request.user),
        "file_ready": bool(job.file_name) and storage.exists(job.file_name),
        "nav": "jobs",
    }
    template_name = "jobs/background_detail.html"
    if request.htmx and not request.htmx.history_restore_request:
        template_name += "#status"
    return render(request, template_name, context)


@jobs_permission_required
@require_POST
def background_job_cancel_view(request, job_id):
    job = _background_job(job_id)
    if not _may_manage(job, request.user):
        raise PermissionDenied
    if job.is_finished:
        messages.info(request, "The job had already ended.")
    else:
        request_cancel(job)
        messages.success(request, "Cancel requested: the job stops after the step it is on.")
    return redirect("customers:background-job", job_id=job.pk)


@jobs_permission_required
@require_GET
def background_job_download_view(request, job_id):
    """The export's file, streamed from the dashboard's storage; only its owner and admins get it."""
    job = _background_job(job_id)
    if not _may_manage(job, request.user):
        raise PermissionDenied
    if not job.file_name or not storage.exists(job.file_name):
        raise Http404("The file is not (or no longer) kept")
    response = StreamingHttpResponse(storage.open_stream(job.file_name), content_type="text/csv; charset=utf-8")
    stamp = job.created_at.strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    if job.file_size is not None:
        response["Content-Length"] = str(job.file_size)
    what = EXPORT_DOWNLOAD if job.kind == BackgroundJob.Kind.EXPORT else f"{job.get_kind_display()} download"
    record_view(request, rows=job.total if job.total is not None else job.done, what=what)
    return response
