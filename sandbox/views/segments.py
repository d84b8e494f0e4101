"""Segments and async actions (read-only)."""

from __future__ import annotations

from django.http import JsonResponse

from sandbox import jobs
from sandbox.api import api_view, choice_param, datetime_param, filters_param, int_param, iso, not_found
from sandbox.models import AsyncAction, Segment
from sandbox.services import segment_json

SEGMENT_FILTERS = {"id": "id", "name": "name", "type": "type"}


@api_view("GET")
def segments(request):
    """The array goes under both ``data`` and ``segments``: the contract names it both ways."""
    params = request.GET
    limit = int_param(params, "limit", 1, 100, 10)
    order = choice_param(params, "order", ("created_at", "-created_at"), "-created_at")
    rows = Segment.objects.filter(filters_param(params, SEGMENT_FILTERS))
    ids = [i for value in params.getlist("ids") for i in value.split(",") if i]
    if ids:
        rows = rows.filter(id__in=ids)
    data = [segment_json(s) for s in rows.order_by(order, "id")[:limit]]
    return JsonResponse({"object": "list", "data_ref": "data", "data": data, "segments": data, "total": rows.count()})


@api_view("GET")
def segment_detail(request, segment_id: str):
    segment = Segment.objects.filter(id=segment_id).first()
    if segment is None:
        raise not_found("segment", segment_id)
    return JsonResponse(segment_json(segment))


def async_action_json(action: AsyncAction, *, with_result: bool) -> dict:
    data = {
        "id": action.id,
        "type": action.type,
        "status": action.status,
        "operation_status": action.operation_status,
        "created_at": iso(action.created_at),
        "updated_at": iso(action.updated_at),
        "request_id": action.request_id,
        "processing_time": action.processing_time,
        "progress": action.progress,
        "object": "async_action",
    }
    if with_result and action.result is not None:
        data["result"] = action.result
    return data


@api_view("GET")
def async_actions(request):
    """Newest first; ``end_date`` keeps actions created before it (the only cursor)."""
    limit = int_param(request.GET, "limit", 1, 100, 10)
    rows = AsyncAction.objects.all()
    end_date = datetime_param(request.GET, "end_date")
    if end_date is not None:
        rows = rows.filter(created_at__lt=end_date)
    found = list(rows.order_by("-created_at", "-id")[: limit + 1])
    return JsonResponse(
        {
            "object": "list",
            "data_ref": "async_actions",
            "async_actions": [async_action_json(a, with_result=False) for a in found[:limit]],
            "has_more": len(found) > limit,
        }
    )


@api_view("GET")
def async_action_detail(request, action_id: str):
    action = AsyncAction.objects.filter(id=action_id).first()
    if action is None:
        raise not_found("async_action", action_id)
    return JsonResponse(async_action_json(jobs.recover(action), with_result=True))
