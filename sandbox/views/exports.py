"""Exports: create, list, get, delete and download customer exports (``/v1/exports``)."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse, JsonResponse

from sandbox import exports as domain
from sandbox.api import ApiError, api_view, choice_param, int_param, json_body, not_found
from sandbox.models import Export

LIST_ORDERS = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "status": ("status", "-created_at", "-id"),
    "-status": ("-status", "-created_at", "-id"),
}


def _base_url(request) -> str:
    """The sandbox's root as this client reached it: scheme, host and the path before ``/v1/``."""
    prefix = request.path.split("/v1/", 1)[0]
    return request.build_absolute_uri(prefix or "/").rstrip("/")


class BadToken(ApiError):
    """401 in the download host's documented shape: ``code``, ``message`` and ``key`` only."""

    def __init__(self):
        super().__init__(401, "unauthorized", "Unauthorized")

    def response(self, request_id: str) -> HttpResponse:
        return JsonResponse({"code": 401, "message": "Unauthorized", "key": "unauthorized"}, status=401)


@api_view("GET", "POST")
def exports(request):
    """POST schedules a customer export (answered at once, in status SCHEDULED); GET lists exports."""
    if request.method == "POST":
        export = domain.export_create(body=json_body(request), request_id=request.voucherify_request_id)
        return JsonResponse(domain.export_json(export, base_url=_base_url(request)))
    params = request.GET
    limit = int_param(params, "limit", 1, 100, 10)
    page = int_param(params, "page", 1, 100, 1)
    order = choice_param(params, "order", tuple(LIST_ORDERS), "-created_at")
    rows = Export.objects.all()
    found = [domain.recover(e) for e in rows.order_by(*LIST_ORDERS[order])[(page - 1) * limit : page * limit]]
    base_url = _base_url(request)
    return JsonResponse(
        {
            "object": "list",
            "data_ref": "exports",
            "exports": [domain.export_json(e, base_url=base_url) for e in found],
            "total": rows.count(),
        }
    )


def _download_request(request) -> bool:
    """Downloads carry their own authorisation (the token), like Voucherify's download host; a DELETE
    with a ``token`` parameter still needs the application keys."""
    return request.method in ("GET", "HEAD") and "token" in request.GET


@api_view("GET", "DELETE", token_auth=_download_request)
def export_detail(request, export_id: str):
    """The export (its progress, polled after a restart too), its CSV (``?token=``), or its deletion."""
    if _download_request(request):
        return _download(request, export_id)
    export = Export.objects.filter(id=export_id).first()
    if export is None:
        raise not_found("export", export_id)
    if request.method == "DELETE":
        domain.export_delete(export)
        return HttpResponse(status=204)
    export = domain.recover(export)
    return JsonResponse(domain.export_json(export, base_url=_base_url(request)))


def _download(request, export_id: str):
    """The CSV, streamed as ``text/plain``; an unknown export answers like a wrong token (no id oracle)."""
    export = Export.objects.filter(id=export_id).first()
    if export is None or not domain.token_matches(export, request.GET.get("token", "")):
        raise BadToken()
    export = domain.recover(export)
    response = FileResponse(
        domain.open_file(export), content_type="text/plain; charset=utf-8", filename=domain.file_name(export.id)
    )
    response["Cache-Control"] = "private, no-store"
    return response
