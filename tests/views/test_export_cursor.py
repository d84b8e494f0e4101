"""The export's walk past page 99: the created_at cursor, with ties at page boundaries, against a small
Voucherify-like upstream (pytest-httpserver) holding more rows than page numbers reach."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug import Response

from customers_app.export_jobs import customer_pages

BASE = datetime(2025, 1, 1, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def upstream(rows: list[dict]):
    """GET /v1/customers newest first, ``starting_after`` = created before it, no page numbers needed."""

    def handler(request):
        limit = int(request.args.get("limit", 10))
        cursor = request.args.get("starting_after")
        matching = rows
        if cursor:
            moment = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
            matching = [r for r in rows if datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")) < moment]
        page = int(request.args.get("page", 1))
        chunk = matching[(page - 1) * limit : page * limit + 1]
        body = {"object": "list", "data_ref": "customers", "customers": chunk[:limit], "total": len(rows),
                "has_more": len(chunk) > limit}  # fmt: skip
        return Response(json.dumps(body), content_type="application/json")

    return handler


@pytest.fixture
def fake_upstream(settings, httpserver):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_IN_PROCESS = False
    return httpserver


def test_cursor_walk_keeps_rows_sharing_a_timestamp_across_page_boundaries(fake_upstream):
    # 10,050 rows (past page 99 at 100 a page); groups of 7 share one millisecond, so ties straddle pages.
    rows = []
    for index in range(10_050):
        moment = BASE - timedelta(milliseconds=index // 7)
        rows.append({"id": f"cust_{index:06d}", "object": "customer", "created_at": stamp(moment)})
    fake_upstream.expect_request("/v1/customers").respond_with_handler(upstream(rows))
    ids = [c.id for page in customer_pages(filters={}) for c in page.customers]
    assert len(ids) == len(rows)
    assert ids == [r["id"] for r in rows]
    assert all("page" not in request.args for request, _ in fake_upstream.log)


def test_cursor_walk_steps_past_more_ties_than_a_page_holds(fake_upstream):
    rows = [{"id": f"cust_a{index:03d}", "object": "customer", "created_at": stamp(BASE)} for index in range(150)]
    rows += [{"id": "cust_older", "object": "customer", "created_at": stamp(BASE - timedelta(seconds=1))}]
    fake_upstream.expect_request("/v1/customers").respond_with_handler(upstream(rows))
    ids = [c.id for page in customer_pages(filters={}) for c in page.customers]
    assert ids[-1] == "cust_older"  # no endless loop; the rest of an oversized tie is the API's limit
    assert len(ids) == len(set(ids))
