"""The customer list against the sandbox over real HTTP: exactly what the API returns, in its order."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server")]

ROW_ID = re.compile(r'<tr data-customer-id="([^"]+)"')


def row_ids(response) -> list[str]:
    return ROW_ID.findall(response.content.decode())


def api_ids(sandbox_server, **params) -> list[str]:
    response = sandbox_server.api("GET", "/v1/customers", params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["customers"]]


def a_city(sandbox_server) -> str:
    customers = sandbox_server.api("GET", "/v1/customers", params={"limit": 100}).json()["customers"]
    return next(c["address"]["city"] for c in customers if c.get("address") and c["address"].get("city"))


def next_link(response) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def test_list_shows_the_api_page_in_the_api_order(support_client, sandbox_server):
    response = support_client.get("/customers/", {"limit": 50})
    assert response.status_code == 200
    assert row_ids(response) == api_ids(sandbox_server, limit=50, page=1)
    total = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["total"]
    assert f"{total:,} customers" in response.content.decode()


@pytest.mark.parametrize("order", ["created_at", "-updated_at", "updated_at", "source_id", "-source_id"])
def test_each_order_matches_the_api(support_client, sandbox_server, order):
    response = support_client.get("/customers/", {"order": order, "limit": 25, "page": 2})
    assert row_ids(response) == api_ids(sandbox_server, order=order, limit=25, page=2)


def test_filters_use_the_api_names_and_give_the_api_result(support_client, sandbox_server):
    city = a_city(sandbox_server)
    query = {
        "city": city,
        "created_at_after": "2020-01-01",
        "created_at_before": "2030-06-01T10:00:00.000Z",
        "updated_at_after": "2020-01-01T00:00:00Z",
        "limit": 10,
    }
    response = support_client.get("/customers/", query)
    expected = api_ids(
        sandbox_server,
        city=city,
        limit=10,
        page=1,
        **{
            "created_at[after]": "2020-01-01",
            "created_at[before]": "2030-06-01T10:00:00.000Z",
            "updated_at[after]": "2020-01-01T00:00:00Z",
        },
    )
    assert expected
    assert row_ids(response) == expected


def test_segment_filter_offers_segments_by_name_and_filters_by_id(support_client, sandbox_server):
    segments = sandbox_server.api("GET", "/v1/segments", params={"limit": 100}).json()["data"]
    segment = segments[0]
    page = support_client.get("/customers/").content.decode()
    assert f'<option value="{segment["id"]}">{segment["name"]}</option>' in page
    response = support_client.get("/customers/", {"segment_id": segment["id"], "limit": 100})
    assert row_ids(response) == api_ids(sandbox_server, segment_id=segment["id"], limit=100, page=1)
    assert f"Segment: {segment['name']}" in response.content.decode()


def test_htmx_request_gets_only_the_results_fragment(support_client, sandbox_server):
    city = a_city(sandbox_server)
    response = support_client.get("/customers/", {"city": city}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]
    assert row_ids(response) == api_ids(sandbox_server, city=city, limit=25, page=1)
    whole = support_client.get("/customers/", {"city": city})
    assert "<html" in whole.content.decode()
    assert row_ids(whole) == row_ids(response)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"created_at_before": "2025-02-30"}, "is not a date"),
        ({"updated_at_after": "yesterday"}, "is not a date"),
        ({"page": "0"}, "Pages start at 1."),
        ({"page": "100"}, "Page numbers stop at 99"),
        ({"limit": "1000"}, "Choose 10, 25, 50 or 100"),
        ({"order": "popularity"}, "Unknown order"),
        ({"order": "source_id", "starting_after": "2025-01-01T00:00:00Z"}, "only when sorted by creation date"),
    ],
)
def test_bad_filters_get_an_inline_message_and_no_upstream_call(settings, support_client, httpserver, query, message):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("")
    httpserver.expect_request("/v1/segments").respond_with_json({"object": "list", "data_ref": "data", "data": []})
    response = support_client.get("/customers/", query)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert [r.path for r, _ in httpserver.log if r.path == "/v1/customers"] == []


def test_paging_continues_past_page_99_with_the_cursor(support_client, sandbox_server):
    page_99 = support_client.get("/customers/", {"limit": 10, "page": 99})
    assert row_ids(page_99) == api_ids(sandbox_server, limit=10, page=99)
    url = next_link(page_99)
    assert url is not None and "starting_after=" in url and "page=" not in url
    page_100 = support_client.get("/customers/" + url)
    # Rows 991-1000 of the whole list, as the API itself pages them with a bigger page size.
    assert row_ids(page_100) == api_ids(sandbox_server, limit=100, page=10)[90:100]


def test_the_whole_list_can_be_walked_past_page_99(support_client, sandbox_server):
    walked = []
    url = "?limit=10&page=99"
    while url:
        response = support_client.get("/customers/" + url)
        walked += row_ids(response)
        url = next_link(response)
    total = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["total"]
    pages = range(1, (total + 99) // 100 + 1)
    everything = [cid for page in pages for cid in api_ids(sandbox_server, limit=100, page=page)]
    assert len(everything) == total
    assert walked == everything[980:]
    assert len(walked) == len(set(walked))


def test_previous_past_page_99_goes_back_one_page(support_client, sandbox_server):
    page_100 = support_client.get("/customers/" + next_link(support_client.get("/customers/?limit=10&page=99")))
    previous = re.search(r'<a href="([^"]+)" rel="prev"', page_100.content.decode()).group(1).replace("&amp;", "&")
    back = support_client.get("/customers/" + previous)
    assert row_ids(back) == api_ids(sandbox_server, limit=10, page=99)


def test_list_rows_link_to_customers_and_the_detail_links_back_to_the_same_filters(support_client, sandbox_server):
    city = a_city(sandbox_server)
    response = support_client.get("/customers/", {"city": city, "page": 1, "limit": 10})
    first = row_ids(response)[0]
    assert f'href="/customers/{first}/"' in response.content.decode()
    detail = support_client.get(f"/customers/{first}/")
    back = "/customers/?" + urlencode({"city": city, "page": 1, "limit": 10})
    assert f'href="{back.replace("&", "&amp;")}"' in detail.content.decode()


def test_customer_data_is_escaped_in_the_list(support_client, sandbox_server):
    source_id = f"xss-{uuid.uuid4().hex}"
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    created = sandbox_server.api(
        "POST", "/v1/customers", json={"source_id": source_id, "name": payload, "email": f"{source_id}@example.com"}
    )
    assert created.status_code == 200
    response = support_client.get("/customers/", {"email": f"{source_id}@example.com"})
    html = response.content.decode()
    assert payload not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_jump_box_goes_straight_to_a_customer_by_id_or_source_id(support_client, sandbox_server):
    customer = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["customers"][0]
    by_id = support_client.get("/customers/jump/", {"q": customer["id"]})
    assert by_id.status_code == 302 and by_id["Location"] == f"/customers/{customer['id']}/"
    by_source = support_client.get("/customers/jump/", {"q": f"  {customer['source_id']} "})
    assert by_source.status_code == 302 and by_source["Location"] == f"/customers/{customer['id']}/"


def test_jump_box_lists_every_customer_sharing_an_email(support_client, sandbox_server):
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    ids = []
    for _ in range(2):
        body = {"source_id": f"dup-{uuid.uuid4().hex}", "email": email}
        ids.append(sandbox_server.api("POST", "/v1/customers", json=body).json()["id"])
    response = support_client.get("/customers/jump/", {"q": email})
    html = response.content.decode()
    assert response.status_code == 200
    for cid in ids:
        assert f'data-customer-id="{cid}"' in html


def test_jump_box_says_when_nothing_matches(support_client):
    response = support_client.get("/customers/jump/", {"q": "nobody-here@example.com"})
    assert response.status_code == 404
    html = response.content.decode()
    assert "No customer has the id, source id or email “nobody-here@example.com”" in html
    assert 'href="/customers/?q=nobody-here%40example.com" data-search-handover' in html  # hand over to search


def test_jump_box_with_htmx_redirects_the_whole_page(support_client, sandbox_server):
    customer = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["customers"][0]
    response = support_client.get("/customers/jump/", {"q": customer["id"]}, headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == f"/customers/{customer['id']}/"


def test_a_shared_segment_filter_still_works_when_segments_cannot_be_listed(settings, support_client, httpserver):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("")
    httpserver.expect_request("/v1/segments").respond_with_json({"code": 503, "message": "down"}, status=503)
    httpserver.expect_request("/v1/customers").respond_with_json({"object": "list", "customers": [], "total": 0})

    response = support_client.get("/customers/", {"segment_id": "seg_shared"})

    assert response.status_code == 200
    assert [r.query_string.decode() for r, _ in httpserver.log if r.path == "/v1/customers"][0].count("seg_shared") == 1
