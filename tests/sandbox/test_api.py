"""In-process tests of every sandbox operation: behaviour plus the OpenAPI contract for each response."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from sandbox.models import Customer, CustomerEvent, RedeemableHolder, Segment, SegmentMembership

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

LIST = "/v1/customers"
DETAIL = "/v1/customers/{customerId}"


def url(path: str) -> str:
    return "/sandbox" + path


def create(api, **body):
    response = api.post(url(LIST), json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_list_default_order_paging_and_contract(api, contract, seeded):
    response = api.get(url(LIST), {"limit": 15})
    contract.check("GET", LIST, response)
    body = response.json()
    assert body["object"] == "list" and body["data_ref"] == "customers"
    assert body["total"] == 40 and body["has_more"] is True and len(body["customers"]) == 15
    created = [c["created_at"] for c in body["customers"]]
    assert created == sorted(created, reverse=True)
    pages = [api.get(url(LIST), {"limit": 15, "page": p}).json()["customers"] for p in (1, 2, 3)]
    ids = [c["id"] for page in pages for c in page]
    assert len(ids) == len(set(ids)) == 40
    assert api.get(url(LIST), {"limit": 15, "page": 3}).json()["has_more"] is False


def test_list_cursor_follows_created_at(api, seeded):
    first = api.get(url(LIST), {"limit": 10}).json()["customers"]
    after = api.get(url(LIST), {"limit": 10, "starting_after": first[-1]["created_at"]}).json()["customers"]
    second = api.get(url(LIST), {"limit": 10, "page": 2}).json()["customers"]
    assert [c["id"] for c in after] == [c["id"] for c in second]
    ascending = api.get(url(LIST), {"order": "created_at", "starting_after": first[-1]["created_at"]}).json()
    assert all(c["created_at"] > first[-1]["created_at"] for c in ascending["customers"])


@pytest.mark.parametrize("order", ["created_at", "-created_at", "updated_at", "-updated_at", "source_id", "-source_id"])
def test_list_orders(api, seeded, order):
    rows = api.get(url(LIST), {"limit": 100, "order": order}).json()["customers"]
    keys = [c[order.lstrip("-")] for c in rows]
    assert keys == sorted(keys, reverse=order.startswith("-"))


def test_list_filters(api, contract, seeded):
    someone = Customer.objects.filter(address__isnull=False).first()
    by_email = api.get(url(LIST), {"email": someone.email.upper()}).json()
    assert someone.id in [c["id"] for c in by_email["customers"]]
    assert all(c["email"].lower() == someone.email.lower() for c in by_email["customers"])
    by_city = api.get(url(LIST), {"city": someone.address["city"].lower(), "limit": 100}).json()
    assert {c["address"]["city"] for c in by_city["customers"]} == {someone.address["city"]}
    by_name = api.get(url(LIST), {"name": someone.name.split()[0].lower(), "limit": 100}).json()
    assert someone.id in [c["id"] for c in by_name["customers"]]
    segment = Segment.objects.filter(memberships__isnull=False).first()
    members = set(SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True))
    by_segment = api.get(url(LIST), {"segment_id": segment.id, "limit": 100}).json()
    assert {c["id"] for c in by_segment["customers"]} == members and by_segment["total"] == len(members)


@pytest.mark.parametrize(
    "value", ["2024-06-01", "2024-06-01T00:00:00Z", "2024-06-01T00:00:00+0000", "2024-06-01T00:00:00.000000"]
)
def test_date_filters_accept_every_form(api, seeded, value):
    before = api.get(url(LIST), {"created_at[before]": value, "limit": 100}).json()
    after = api.get(url(LIST), {"created_at[after]": value, "limit": 100}).json()
    assert before["total"] + after["total"] == 40
    assert all(c["created_at"] < "2024-06-01" for c in before["customers"])
    updated = api.get(url(LIST), {"updated_at[after]": value, "updated_at[before]": "2030-01-01"}).json()
    assert updated["total"] >= after["total"]


def test_create_upsert_get_update_delete(api, contract):
    response = api.post(
        url(LIST),
        json.dumps({"source_id": "crm-1", "name": "Ada", "email": "ADA@example.com", "metadata": {"a": 1}}),
        content_type="application/json",
    )
    contract.check("POST", LIST, response)
    customer = response.json()
    assert customer["id"].startswith("cust_") and len(customer["id"]) == 29
    assert customer["object"] == "customer" and customer["created_at"].endswith("Z")
    again = create(api, source_id="crm-1", phone="+48 1")
    assert again["id"] == customer["id"] and again["name"] == "Ada" and again["phone"] == "+48 1"
    by_id = create(api, id=customer["id"], source_id="ignored", description="d")
    assert by_id["source_id"] == "crm-1" and by_id["description"] == "d"

    for key in (customer["id"], "crm-1"):
        response = api.get(url(f"/v1/customers/{key}"))
        contract.check("GET", DETAIL, response)
        assert response.json()["id"] == customer["id"]

    response = api.put(
        url("/v1/customers/crm-1"),
        json.dumps({"birthdate": "1990-05-06", "address": {"city": "Berlin"}}),
        content_type="application/json",
    )
    contract.check("PUT", DETAIL, response)
    updated = response.json()
    assert updated["birthdate"] == updated["birthday"] == "1990-05-06"
    assert updated["address"] == {"city": "Berlin"} and updated["name"] == "Ada" and updated["metadata"] == {"a": 1}
    assert updated["updated_at"] >= updated["created_at"]

    response = api.delete(url("/v1/customers/crm-1"))
    contract.check("DELETE", DETAIL, response)
    assert response.status_code == 204 and response.content == b""
    response = api.get(url("/v1/customers/crm-1"))
    contract.check("GET", DETAIL, response)
    assert response.status_code == 404
    assert response.json()["resource_type"] == "customer" and response.json()["resource_id"] == "crm-1"
    types = list(CustomerEvent.objects.filter(customer_id=customer["id"]).values_list("type", flat=True))
    assert {"customer.created", "customer.updated", "customer.deleted"} <= set(types)


@pytest.mark.parametrize("source_id", ["a/b", "we?ird&id=1#frag", "plus+sign @home", " spaced out ", "x/activity/y"])
def test_special_source_ids_round_trip(api, source_id):
    customer = create(api, source_id=source_id, name="S")
    path = "/v1/customers/" + quote(source_id, safe="")
    assert api.get(url(path)).json()["id"] == customer["id"]
    assert api.get(url(path + "/activity")).json()["data"][0]["type"] == "customer.created"
    assert api.get(url(path + "/segments")).status_code == 200
    assert api.get(url(path + "/redeemables")).json()["total"] == 0
    assert api.put(url(path), '{"name": "T"}', content_type="application/json").json()["name"] == "T"
    assert api.post(url(path + "/permanent-deletion")).json()["related_object_id"] == customer["id"]


def test_permanent_deletion_counts_what_it_removes(api, contract, seeded):
    customer = Customer.objects.filter(redeemables__isnull=False, memberships__isnull=False).first()
    events = CustomerEvent.objects.filter(customer_id=customer.id).count()
    segments = SegmentMembership.objects.filter(customer=customer).count()
    pattern = "/v1/customers/{customerId}/permanent-deletion"
    response = api.post(url(f"/v1/customers/{customer.source_id}/permanent-deletion"))
    contract.check("POST", pattern, response)
    record = response.json()
    assert record["id"].startswith("del_") and record["object"] == "pernament_deletion"
    assert record["related_object_id"] == customer.id and record["status"] == "DONE"
    assert record["data_json"]["events"] == events and record["data_json"]["segments"] == segments
    assert not RedeemableHolder.objects.filter(customer_id=customer.id).exists()
    assert not CustomerEvent.objects.filter(customer_id=customer.id).exists()
    contract.check("POST", pattern, api.post(url(f"/v1/customers/{customer.id}/permanent-deletion")))


def test_activity_pagination_filters_and_contract(api, contract, seeded):
    customer = Customer.objects.order_by("-created_at").first()
    for _ in range(3):
        api.put(url(f"/v1/customers/{customer.id}"), '{"name": "N"}', content_type="application/json")
    pattern = "/v1/customers/{customerId}/activity"
    response = api.get(url(f"/v1/customers/{customer.id}/activity"), {"limit": 2})
    contract.check("GET", pattern, response)
    first = response.json()
    assert first["has_more"] is True and first["more_starting_after"] == first["data"][-1]["id"]
    seen = [e["id"] for e in first["data"]]
    cursor = first["more_starting_after"]
    while cursor:
        page = api.get(url(f"/v1/customers/{customer.id}/activity"), {"limit": 2, "starting_after_id": cursor})
        seen += [e["id"] for e in page.json()["data"]]
        cursor = page.json().get("more_starting_after")
    assert len(seen) == len(set(seen)) == CustomerEvent.objects.filter(customer_id=customer.id).count()
    updates = api.get(url(f"/v1/customers/{customer.id}/activity"), {"type": "customer.updated"}).json()
    assert {e["type"] for e in updates["data"]} == {"customer.updated"}
    contract.check("GET", pattern, api.get(url("/v1/customers/nobody/activity")))


def test_deprecated_activities(api, contract, seeded):
    customer = Customer.objects.first()
    pattern = "/v1/customers/{customerId}/activities"
    for order in ("-created_at", "type", "-campaign", "category"):
        response = api.get(url(f"/v1/customers/{customer.id}/activities"), {"order": order, "limit": 100})
        contract.check("GET", pattern, response)
        assert response.json()["total"] == len(response.json()["data"])
    late = api.get(url(f"/v1/customers/{customer.id}/activities"), {"starting_after": "2100-01-01"}).json()
    assert late["data"] and late["total"] >= len(late["data"])


def test_redeemables_filters_cursor_and_contract(api, contract, seeded):
    holder = RedeemableHolder.objects.values("customer_id").annotate().first()
    customer = Customer.objects.get(id=holder["customer_id"])
    pattern = "/v1/customers/{customerId}/redeemables"
    response = api.get(url(f"/v1/customers/{customer.id}/redeemables"), {"limit": 1})
    contract.check("GET", pattern, response)
    body = response.json()
    total = RedeemableHolder.objects.filter(customer=customer).count()
    assert body["total"] == total and body["has_more"] is (total > 1)
    item = body["data"][0]
    assert item["id"].startswith("rh_") and item["redeemable"]["voucher"]["code"]
    if body["has_more"]:
        nxt = api.get(url(f"/v1/customers/{customer.id}/redeemables"), {"starting_after_id": item["id"]}).json()
        assert item["id"] not in [i["id"] for i in nxt["data"]] and len(nxt["data"]) == total - 1
    for params, check in [
        ({"filters[holder_role][conditions][$in]": "OWNER,REFEREE"}, lambda i: i["holder_role"] != "REFERRER"),
        ({"filters[voucher_type][conditions][$is]": "GIFT_VOUCHER"}, lambda i: i["voucher_type"] == "GIFT_VOUCHER"),
        (
            {"filters[campaign_type][conditions][$not_in]": "['LOYALTY_PROGRAM']"},
            lambda i: i["campaign_type"] != "LOYALTY_PROGRAM",
        ),
        ({"filters[redeemable_object][conditions][$is_not]": "voucher"}, lambda i: False),
    ]:
        response = api.get(url(f"/v1/customers/{customer.id}/redeemables"), {**params, "limit": 100})
        contract.check("GET", pattern, response)
        assert all(check(i) for i in response.json()["data"])
    gift = RedeemableHolder.objects.filter(voucher_type="GIFT_VOUCHER").first()
    data = api.get(url(f"/v1/customers/{gift.customer_id}/redeemables"), {"limit": 100}).json()["data"]
    voucher = next(i for i in data if i["id"] == gift.id)["redeemable"]["voucher"]
    assert set(voucher["gift"]) >= {"amount", "balance"}


def test_segments_and_customer_segments(api, contract, seeded):
    response = api.get(url("/v1/segments"), {"limit": 100})
    contract.check("GET", "/v1/segments", response)
    body = response.json()
    assert body["total"] == 12 and body["data"] == body["segments"] and len(body["data"]) == 12
    assert {s["type"] for s in body["data"]} == {"static", "auto-update"}
    autos = api.get(url("/v1/segments"), {"filters[type][conditions][$is]": "auto-update", "limit": 100}).json()
    assert {s["type"] for s in autos["data"]} == {"auto-update"}
    segment = body["data"][0]
    response = api.get(url(f"/v1/segments/{segment['id']}"))
    contract.check("GET", "/v1/segments/{segmentId}", response)
    assert response.json() == segment
    missing = api.get(url("/v1/segments/seg_nope"))
    contract.check("GET", "/v1/segments/{segmentId}", missing)
    assert missing.status_code == 404 and missing.json()["resource_type"] == "segment"

    warsaw = create(api, source_id="w1", address={"city": "warsaw"})
    pattern = "/v1/customers/{customerId}/segments"
    response = api.get(url("/v1/customers/w1/segments"))
    contract.check("GET", pattern, response)
    assert [s["name"] for s in response.json()["data"]] == ["Warsaw customers"]
    api.put(url("/v1/customers/w1"), '{"address": {"city": "Berlin"}}', content_type="application/json")
    assert [s["name"] for s in api.get(url("/v1/customers/w1/segments")).json()["data"]] == ["Berlin customers"]
    types = CustomerEvent.objects.filter(customer_id=warsaw["id"]).values_list("type", flat=True)
    assert {"customer.segment.entered", "customer.segment.left"} <= set(types)
    unknown = api.get(url("/v1/customers/nobody/segments"))
    contract.check("GET", pattern, unknown)
    assert unknown.status_code == 200 and unknown.json()["total"] == 0


def test_created_at_values_are_unique_so_the_cursor_never_skips(api, wait_for_action):
    body = [{"source_id": f"burst-{n}"} for n in range(30)]
    response = api.post(url("/v1/customers/bulk/async"), json.dumps(body), content_type="application/json")
    for n in range(5):
        create(api, source_id=f"single-{n}")
    assert wait_for_action(response.json()["async_action_id"])["status"] == "DONE"
    created = list(Customer.objects.values_list("created_at", flat=True))
    assert len(created) == len(set(created)) == 35
