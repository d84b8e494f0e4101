"""When Voucherify fails, the user gets a clear page (or an htmx alert), never a 500 or a secret."""

from __future__ import annotations

import html as html_lib
import re
import time

import pytest
from werkzeug import Response

pytestmark = pytest.mark.django_db

SEGMENTS = {"object": "list", "data_ref": "data", "data": [], "total": 0}


@pytest.fixture
def upstream(settings, httpserver):
    """The dashboard pointed at a local server that misbehaves on purpose."""
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_APP_ID = "app-id"
    settings.VOUCHERIFY_APP_TOKEN = "very-secret-token-value"
    settings.VOUCHERIFY_IN_PROCESS = False
    settings.VOUCHERIFY_READ_TIMEOUT = 0.5
    settings.VOUCHERIFY_TOTAL_TIMEOUT = 2
    httpserver.expect_request("/v1/segments").respond_with_json(SEGMENTS)
    return httpserver


def error_body(code: int, key: str, request_id: str = "v-0a1b2c3d4e5f") -> dict:
    return {"code": code, "key": key, "message": "Something", "details": "Details", "request_id": request_id}


def customer_calls(server) -> int:
    return sum(1 for request, _ in server.log if request.path == "/v1/customers")


def test_a_5xx_gives_a_503_page_with_the_request_id(upstream, support_client):
    upstream.expect_request("/v1/customers").respond_with_json(error_body(503, "unavailable"), status=503)
    response = support_client.get("/customers/")
    html = response.content.decode()
    assert response.status_code == 503
    assert "Voucherify is unavailable" in html
    assert "v-0a1b2c3d4e5f" in html
    assert "<html" in html and "Back to customers" in html
    assert customer_calls(upstream) == 3  # the first try and two retries


def test_a_429_says_when_to_try_again(upstream, support_client):
    upstream.expect_request("/v1/customers").respond_with_json(
        {"code": 429, "message": "Too many requests hit the API too quickly."},
        status=429,
        headers={"Retry-After": "30"},
    )
    started = time.monotonic()
    response = support_client.get("/customers/")
    assert time.monotonic() - started < 1  # no waiting for the quota inside a page
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    html = response.content.decode()
    assert re.search(r"Voucherify accepts calls again in (29|30) s, at \d\d:\d\d:\d\d UTC", html)
    assert 'href="/customers/">Try again</a>' in html
    assert customer_calls(upstream) == 1
    # The governor now knows the budget is gone: the next page answers at once, without a call.
    again = support_client.get("/customers/")
    assert again.status_code == 429 and customer_calls(upstream) == 1


def test_bad_credentials_say_an_admin_must_fix_them_without_showing_the_secret(upstream, support_client):
    upstream.expect_request("/v1/customers").respond_with_json(error_body(401, "unauthorized"), status=401)
    response = support_client.get("/customers/")
    html = html_lib.unescape(response.content.decode())
    assert response.status_code == 502
    assert "rejected the dashboard's API credentials" in html
    assert "An administrator needs to fix" in html
    assert "very-secret-token-value" not in html


def test_a_timeout_gives_a_504_within_the_time_limit(upstream, support_client):
    def slow(request):
        time.sleep(1.5)
        return Response("{}", content_type="application/json")

    upstream.expect_request("/v1/customers").respond_with_handler(slow)
    started = time.monotonic()
    response = support_client.get("/customers/")
    assert time.monotonic() - started < 6
    assert response.status_code == 504
    assert "did not answer in time" in response.content.decode()


def test_an_answer_that_is_not_json_gives_a_502(upstream, support_client):
    upstream.expect_request("/v1/customers").respond_with_data("<html>proxy error</html>", content_type="text/html")
    response = support_client.get("/customers/")
    assert response.status_code == 502
    assert "Voucherify is unavailable" in response.content.decode()


def test_htmx_requests_get_the_message_as_an_alert_in_the_page(upstream, support_client):
    upstream.expect_request("/v1/customers").respond_with_json(error_body(503, "unavailable"), status=503)
    response = support_client.get("/customers/", {"city": "Brno"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 503
    assert response["HX-Retarget"] == "#alerts"
    assert "<html" not in html
    assert 'role="alert"' in html and "v-0a1b2c3d4e5f" in html


def test_the_list_still_works_when_segments_cannot_be_listed(settings, httpserver, support_client):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_IN_PROCESS = False
    httpserver.expect_request("/v1/segments").respond_with_json(error_body(500, "error"), status=500)
    httpserver.expect_request("/v1/customers").respond_with_json(
        {"object": "list", "data_ref": "customers", "customers": [], "total": 0, "has_more": False}
    )
    response = support_client.get("/customers/")
    assert response.status_code == 200
    assert "No customers match these filters." in response.content.decode()


def test_pages_show_the_latest_rate_limit_headers(settings, httpserver, support_client):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_IN_PROCESS = False
    httpserver.expect_request("/v1/segments").respond_with_json(SEGMENTS)
    httpserver.expect_request("/v1/customers").respond_with_json(
        {"object": "list", "data_ref": "customers", "customers": [], "total": 0, "has_more": False},
        headers={"X-Rate-Limit-Limit": "100", "X-Rate-Limit-Remaining": "42"},
    )
    html = support_client.get("/customers/").content.decode()
    # The governor books its own call and learns that other clients spent the rest.
    assert "Voucherify API: 42 of 100 calls left this minute, for the whole team" in html
