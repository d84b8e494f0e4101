"""The CSV import wizard: upload, map columns, preview (a dry run), import."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import csv_import
from ..audit import Action, audited
from ..csv_import import CsvFileError, CsvFormat
from ..erasure import guard_check_numbered
from ..import_forms import MappingForm, UploadForm
from ..jobs import import_start
from ..roles import IMPORT, perm
from ..services.voucherify import RequestError
from .erasure import guard_stop

SESSION_KEY = "customer_import"
# Multipart framing around the file; anything beyond the limit plus this is refused unread.
MULTIPART_OVERHEAD = 64 * 1024
TOO_BIG = "The file is larger than 10 MB, Voucherify's limit. Split it into smaller files."


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops receiving an upload once it passes 10 MB, whatever the request claimed its length was."""

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > csv_import.MAX_UPLOAD_BYTES:
            self.request.upload_too_big = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


def _state(request) -> dict | None:
    state = request.session.get(SESSION_KEY)
    if not state:
        return None
    try:
        if not csv_import.upload_path(state["token"]).exists():
            return None
    except (KeyError, ValueError):
        return None
    return state


def _format(state: dict) -> CsvFormat:
    return CsvFormat(encoding=state["encoding"], delimiter=state["delimiter"], headers=state["headers"])


def _missing(request):
    messages.warning(request, "The uploaded file is no longer available. Upload it again.")
    return redirect("customers:import")


def _upload_page(request, form, status=200, error=""):
    context = {"form": form, "step": 1, "nav": "import", "error": error}
    return render(request, "imports/upload.html", context, status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
@permission_required(perm(IMPORT), raise_exception=True)
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
        request.upload_handlers.insert(0, SizeLimitUploadHandler(request))
    return _import_upload(request)


@csrf_protect
def _import_upload(request):
    if request.method != "POST":
        csv_import.upload_delete((request.session.get(SESSION_KEY) or {}).get("token"))
        request.session.pop(SESSION_KEY, None)
        return _upload_page(request, UploadForm())
    form = UploadForm(request.POST, request.FILES)
    if getattr(request, "upload_too_big", False):
        return _upload_page(request, UploadForm(), status=413, error=TOO_BIG)
    if not form.is_valid():
        return _upload_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    token = csv_import.upload_store(upload)
    path = csv_import.upload_path(token)
    try:
        fmt = csv_import.detect_format(path)
    except CsvFileError as error:
        csv_import.upload_delete(token)
        form.add_error("file", str(error))
        return _upload_page(request, form, status=400)
    csv_import.upload_delete((request.session.get(SESSION_KEY) or {}).get("token"))
    request.session[SESSION_KEY] = {
        "token": token,
        "file_name": upload.name,
        "size": upload.size,
        "encoding": fmt.encoding,
        "delimiter": fmt.delimiter,
        "headers": fmt.headers,
        "mapping": csv_import.mapping_to_data(csv_import.auto_mapping(fmt.headers)),
    }
    return redirect("customers:import-map")


@require_GET
@permission_required(perm(IMPORT), raise_exception=True)
def import_template_view(request):
    """Downloads an example CSV with Voucherify's standard column names."""
    response = HttpResponse(csv_import.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="customers-import-template.csv"'
    return response


@require_http_methods(["GET", "POST"])
@permission_required(perm(IMPORT), raise_exception=True)
def import_map_view(request):
    """Lets a marketer say where each column goes: a standard field, a metadata key, or nowhere."""
    state = _state(request)
    if state is None:
        return _missing(request)
    path = csv_import.upload_path(state["token"])
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
                    fmt = csv_import.detect_format(path, encoding=encoding, delimiter=delimiter)
                except CsvFileError as error:
                    form.add_error(None, str(error))
                else:
                    headers_changed = fmt.headers != state["headers"]
                    state.update(encoding=encoding, delimiter=delimiter, headers=fmt.headers)
                    if headers_changed:
                        state["mapping"] = csv_import.mapping_to_data(csv_import.auto_mapping(fmt.headers))
                    else:
                        state["mapping"] = csv_import.mapping_to_data(form.mapping())
                    request.session[SESSION_KEY] = state
                    messages.info(request, "The file was read again with the encoding and separator you chose.")
                    return redirect("customers:import-map")
            else:
                state["mapping"] = csv_import.mapping_to_data(form.mapping())
                request.session[SESSION_KEY] = state
                return redirect("customers:import-preview")
        status = 400
    else:
        form = MappingForm(headers=state["headers"], mapping=mapping, initial=initial)
    form.samples = csv_import.sample_values(path, _format(state))
    context = {"form": form, "state": state, "step": 2, "nav": "import"}
    return render(request, "imports/map.html", context, status=status)


@require_GET
@permission_required(perm(IMPORT), raise_exception=True)
def import_preview_view(request):
    """Shows what the import would do, row by row, before anything is sent to Voucherify."""
    state = _state(request)
    if state is None:
        return _missing(request)
    mapping = csv_import.mapping_from_data(state["mapping"])
    path = csv_import.upload_path(state["token"])
    try:
        preview = csv_import.build_preview(path, _format(state), mapping)
    except CsvFileError as error:
        messages.error(request, str(error))
        return redirect("customers:import-map")
    encoding_label = dict(csv_import.ENCODING_CHOICES).get(state["encoding"], state["encoding"])
    context = {"preview": preview, "state": state, "encoding_label": encoding_label, "step": 3, "nav": "import"}
    return render(request, "imports/preview.html", context)


@require_POST
@permission_required(perm(IMPORT), raise_exception=True)
def import_confirm_view(request):
    """Sends the valid rows to Voucherify as a clean CSV and follows the job."""
    state = _state(request)
    if state is None:
        return _missing(request)
    mapping = csv_import.mapping_from_data(state["mapping"])
    path = csv_import.upload_path(state["token"])
    # Rows that would bring back someone erased (GDPR) stop the import, unless an admin overrides.
    headers = csv_import.output_headers(mapping)
    valid_rows = csv_import.validate_rows(path, _format(state), mapping)
    hits = guard_check_numbered((line, dict(zip(headers, row, strict=True))) for line, row, _ in valid_rows if row)
    if hits:
        target = f"import {state['file_name']}"
        stopped = guard_stop(request, person=hits[0].person, target=target, rows=len(hits), hits=hits, row_label="Line")
        if stopped is not None:
            return stopped
    sent_path = csv_import.sent_dir() / f"pending-{uuid.uuid4().hex}.csv"
    try:
        count = csv_import.write_clean_csv(path, _format(state), mapping, sent_path)
        if count == 0:
            messages.error(request, "No row is valid, so nothing was sent. Fix the file and upload it again.")
            return redirect("customers:import-preview")
        if sent_path.stat().st_size > csv_import.MAX_UPLOAD_BYTES:
            messages.error(request, "Converted to UTF-8 the file is larger than 10 MB. Split it and import the parts.")
            return redirect("customers:import-preview")
        with audited(
            actor=request.user, action=Action.IMPORT, target_label=state["file_name"], changes={"rows": count}
        ) as audit:
            job = import_start(user=request.user, file_name=state["file_name"], sent_path=sent_path, row_count=count)
            audit.target_id = job.async_action_id
    except RequestError as error:
        request_id = error.request_id or "unknown"
        messages.error(request, f"Voucherify refused the file: {error.message} (request {request_id})")
        return redirect("customers:import-preview")
    finally:
        sent_path.unlink(missing_ok=True)
    csv_import.upload_delete(state["token"])
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"Import of {count} customer{'s' if count != 1 else ''} started.")
    return redirect(reverse("customers:job", args=[job.async_action_id]))


@require_POST
@permission_required(perm(IMPORT), raise_exception=True)
def import_cancel_view(request):
    """Forgets the uploaded file."""
    csv_import.upload_delete((request.session.get(SESSION_KEY) or {}).get("token"))
    request.session.pop(SESSION_KEY, None)
    messages.info(request, "Import cancelled; the uploaded file was deleted.")
    return redirect("customers:import")
