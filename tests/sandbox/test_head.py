"""HEAD on every GET route answers like GET without a body (load balancers and link checkers use it)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from sandbox.models import AsyncAction, Customer, Segment

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def get_routes() -> list[str]:
    customer = Customer.objects.order_by("created_at").first()
    awkward = "a/b?c=d&e#f+g@h i"
    segment = Segment.objects.first()
    routes = [
        "/v1/customers?limit=5",
        f"/v1/customers/{customer.id}",
        f"/v1/customers/{quote(awkward, safe='')}",
        f"/v1/customers/{customer.id}/activity",
        f"/v1/customers/{customer.id}/activities",
        f"/v1/customers/{customer.id}/redeemables",
        f"/v1/customers/{customer.id}/segments",
        "/v1/segments",
        f"/v1/segments/{segment.id}",
        "/v1/async-actions",
        "/v1/customers/cust_doesnotexist",
        "/v1/customers?limit=1000",
        "/v2/nothing-here",
    ]
    action = AsyncAction.objects.first()
    if action is not None:
        routes.append(f"/v1/async-actions/{action.id}")
    return routes


def test_head_matches_get_on_every_route(api, seeded, wait_for_action):
    started = api.post("/sandbox/v1/customers/bulk/async", [{"source_id": "head-1"}], content_type="application/json")
    wait_for_action(started.json()["async_action_id"])  # nothing changes between a GET and its HEAD
    api.post("/sandbox/v1/customers", {"source_id": "a/b?c=d&e#f+g@h i"}, content_type="application/json")
    for route in get_routes():
        get = api.get("/sandbox" + route)
        head = api.head("/sandbox" + route)
        assert head.status_code == get.status_code, route
        assert head["Content-Type"] == get["Content-Type"], route
        assert int(head["Content-Length"]) == len(get.content), route
        assert head.content == b"", route


def test_head_is_refused_where_get_is(api):
    response = api.head("/sandbox/v1/customers/importCSV")  # a customer id here, so 404 like GET
    assert response.status_code == 404
    assert "HEAD" in api.generic("PATCH", "/sandbox/v1/segments")["Allow"]
