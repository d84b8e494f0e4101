"""The CSV import wizard: upload, map columns, preview (a dry run), import.

The upload is kept in the database between steps (``ImportFile``), so the next step may run on any
app server; the session holds only its token, and only the user who uploaded it can use it.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import csv_import
from ..audit import Action, audited
from ..budget_estimates import import_cost, job_duration
from ..csv_import import CleanFileTooBig, CsvFileError, CsvFormat
from ..erasure import guard_check_numbered
from ..import_forms import MappingForm, UploadForm
from ..jobs import import_start
from ..roles import IMPORT, perm
from ..services.voucherify import RequestError
from ..signin.guards import dangerous_action
from .erasure import guard_stop

SESSION_KEY = "customer_import"
# Multipart framing around the file; anything beyond the limit plus this is refused unread.
MULTIPART_OVERHEAD = 64 * 1024
TOO_BIG = "The file is larger than 10 MB, Voucherify's limit. Split it into smaller files."


class SizeLimitUploadHandler(FileUploadHandler):
    """Receives the upload in memory (never in a temporary file on local disk) and stops once the
    request's files pass 10 MB in all, whatever the request claimed its length was."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0
        self.buffer: io.BytesIO | None = None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()
        raise StopFutureHandlers  # no other handler opens a temporary file for it

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if start + len(raw_data) > csv_import.MAX_UPLOAD_BYTES or self.received > csv_import.MAX_UPLOAD_BYTES:
            self.request.upload_too_big = True
            self.buffer = None
            raise StopUpload(connection_reset=False)
        self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size):
        buffer, self.buffer = self.buffer, None
        if buffer is None:
            return None
        buffer.seek(0)
        return InMemoryUploadedFile(
            file=buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def _session_token(request) -> str | None:
    data = request.session.get(SESSION_KEY)
    return data.get("token") if isinstance(data, dict) else None


def _upload(request):
    """The upload in progress, if it is still there and belongs to this user (content not loaded)."""
    token = _session_token(request)
    return csv_import.upload_get(token, owner=request.user) if token else None


def _state(upload) -> dict:
    """What the templates show and the steps read: the file's name and size and the wizard state."""
    return {**upload.state, "file_name": upload.file_name, "size": upload.size, "token": str(upload.token)}


def _save_state(upload, state: dict) -> None:
    upload.state = {key: state[key] for key in ("encoding", "delimiter", "headers", "mapping")}
    upload.save(update_fields=["state"])


def _forget(request) -> None:
    """Deletes the user's upload in progress and its token."""
    token = _session_token(request)
    if token:
        csv_import.upload_delete(token, owner=request.user)
    request.session.pop(SESSION_KEY, None)


def _format(state: dict) -> CsvFormat:
    return CsvFormat(encoding=state["encoding"], delimiter=state["delimiter"], headers=state["headers"])


def _missing(request):
    messages.warning(request, "The uploaded file is no longer available. Upload it again.")
    return redirect("customers:import")


def _upload_page(request, form, status=200, error=""):
    context = {"form": form, "step": 1, "nav": "import", "error": error}
    return render(request, "imports/upload.html", context, status=status)


@csrf_exempt
@permission_required(perm(IMPORT), raise_exception=True)
@require_http_methods(["GET", "POST"])
def import_upload_view(request):
    """Lets a marketer pick a customer CSV; odd files are turned away before anything is sent."""
    if request.method == "POST":
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > csv_import.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
            # Refused without reading the body.
            response = _upload_page(request, UploadForm(), status=413, error=TOO_BIG)
            response["Connection"] = "close"
            return response
        request.upload_handlers = [SizeLimitUploadHandler(request)]
    return _import_upload(request)


@csrf_protect
def _import_upload(request):
    if request.method != "POST":
        _forget(request)
        return _upload_page(request, UploadForm())
    form = UploadForm(request.POST, request.FILES)
    if getattr(request, "upload_too_big", False):
        return _upload_page(request, UploadForm(), status=413, error=TOO_BIG)
    if not form.is_valid():
        return _upload_page(request, form, status=400)
    uploaded = form.cleaned_data["file"]
    content = csv_import.upload_read(uploaded)
    uploaded.close()
    try:
        fmt = csv_import.detect_format(content)
    except CsvFileError as error:
        form.add_error("file", str(error))
        return _upload_page(request, form, status=400)
    _forget(request)
    state = {
        "encoding": fmt.encoding,
        "delimiter": fmt.delimiter,
        "headers": fmt.headers,
        "mapping": csv_import.mapping_to_data(csv_import.auto_mapping(fmt.headers)),
    }
    stored = csv_import.upload_store(owner=request.user, file_name=uploaded.name, content=content, state=state)
    request.session[SESSION_KEY] = {"token": str(stored.token)}
    return redirect("customers:import-map")


@permission_required(perm(IMPORT), raise_exception=True)
@require_GET
def import_template_view(request):
    """Downloads an example CSV with Voucherify's standard column names."""
    response = HttpResponse(csv_import.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="customers-import-template.csv"'
    return response


@permission_required(perm(IMPORT), raise_exception=True)
@require_http_methods(["GET", "POST"])
def import_map_view(request):
    """Lets a marketer say where each column goes: a standard field, a metadata key, or nowhere."""
    upload = _upload(request)
    if upload is None:
        return _missing(request)
    state = _state(upload)
    content = csv_import.upload_content(upload)
    mapping = csv_import.mapping_from_data(state["mapping"])
    initial = {"encoding": state["encoding"], "delimiter": state["delimiter"]}
    status = 200
    if request.method == "POST":
        form = MappingForm(request.POST, headers=state["headers"], mapping=mapping, initial=initial)
        if form.is_valid():
            encoding, delimiter = form.cleaned_data["encoding"], form.cleaned_data["delimiter"]
            if (encoding, delimiter) != (state["encoding"], state["delimiter"]):
                # Read again with what the user chose; the columns may change, so map afresh.
                try:
                    fmt = csv_import.detect_format(content, encoding=encoding, delimiter=delimiter)
                except CsvFileError as error:
                    form.add_error(None, str(error))
                else:
                    headers_changed = fmt.headers != state["headers"]
                    state.update(encoding=encoding, delimiter=delimiter, headers=fmt.headers)
                    if headers_changed:
                        state["mapping"] = csv_import.mapping_to_data(csv_import.auto_mapping(fmt.headers))
                    else:
                        state["mapping"] = csv_import.mapping_to_data(form.mapping())
                    _save_state(upload, state)
                    messages.info(request, "The file was read again with the encoding and separator you chose.")
                    return redirect("customers:import-map")
            else:
                state["mapping"] = csv_import.mapping_to_data(form.mapping())
                _save_state(upload, state)
                return redirect("customers:import-preview")
        status = 400
    else:
        form = MappingForm(headers=state["headers"], mapping=mapping, initial=initial)
    form.samples = csv_import.sample_values(content, _format(state))
    context = {"form": form, "state": state, "step": 2, "nav": "import"}
    return render(request, "imports/map.html", context, status=status)


@permission_required(perm(IMPORT), raise_exception=True)
@require_GET
def import_preview_view(request):
    """Shows what the import would do, row by row, before anything is sent to Voucherify."""
    upload = _upload(request)
    if upload is None:
        return _missing(request)
    state = _state(upload)
    mapping = csv_import.mapping_from_data(state["mapping"])
    try:
        preview = csv_import.build_preview(csv_import.upload_content(upload), _format(state), mapping)
    except CsvFileError as error:
        messages.error(request, str(error))
        return redirect("customers:import-map")
    encoding_label = dict(csv_import.ENCODING_CHOICES).get(state["encoding"], state["encoding"])
    calls = import_cost(preview.valid)
    context = {
        "preview": preview,
        "state": state,
        "encoding_label": encoding_label,
        "step": 3,
        "calls": calls,
        "duration": job_duration(calls),
        "nav": "import",
    }
    return render(request, "imports/preview.html", context)


@permission_required(perm(IMPORT), raise_exception=True)
@require_POST
@dangerous_action(return_to="customers:import-preview")
def import_confirm_view(request):
    """Sends the valid rows to Voucherify as a clean CSV and follows the job."""
    upload = _upload(request)
    if upload is None:
        return _missing(request)
    state = _state(upload)
    mapping = csv_import.mapping_from_data(state["mapping"])
    content = csv_import.upload_content(upload)
    # Rows that would bring back someone erased (GDPR) stop the import, unless an admin overrides.
    headers = csv_import.output_headers(mapping)
    valid_rows = csv_import.validate_rows(content, _format(state), mapping)
    hits = guard_check_numbered((line, dict(zip(headers, row, strict=True))) for line, row, _ in valid_rows if row)
    if hits:
        target = f"import {state['file_name']}"
        stopped = guard_stop(request, person=hits[0].person, target=target, rows=len(hits), hits=hits, row_label="Line")
        if stopped is not None:
            return stopped
    clean = io.BytesIO()
    try:
        count = csv_import.write_clean_csv(content, _format(state), mapping, clean)
    except CleanFileTooBig as error:
        messages.error(request, str(error))
        return redirect("customers:import-preview")
    if count == 0:
        messages.error(request, "No row is valid, so nothing was sent. Fix the file and upload it again.")
        return redirect("customers:import-preview")
    del content, valid_rows  # from here on only the clean file is held
    sent = clean.getvalue()
    clean.close()
    try:
        with audited(
            actor=request.user, action=Action.IMPORT, target_label=state["file_name"], changes={"rows": count}
        ) as audit:
            job = import_start(user=request.user, file_name=state["file_name"], content=sent, row_count=count)
            audit.target_id = job.async_action_id
    except RequestError as error:
        request_id = error.request_id or "unknown"
        messages.error(request, f"Voucherify refused the file: {error.message} (request {request_id})")
        return redirect("customers:import-preview")
    _forget(request)
    messages.success(request, f"Import of {count} customer{'s' if count != 1 else ''} started.")
    return redirect(reverse("customers:job", args=[job.async_action_id]))


@permission_required(perm(IMPORT), raise_exception=True)
@require_POST
def import_cancel_view(request):
    """Forgets the uploaded file."""
    _forget(request)
    messages.info(request, "Import cancelled; the uploaded file was deleted.")
    return redirect("customers:import")
