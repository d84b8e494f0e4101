"""The Voucherify client against a real local upstream that misbehaves on purpose."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from customers_app.services.voucherify import (
    AuthError,
    NotFound,
    RateLimited,
    RequestError,
    Unavailable,
    UpstreamTimeout,
    VoucherifyClient,
    get_client,
    path,
    rate_limit_status,
)
from customers_app.types import ListedCustomerPage

CUSTOMER = {"id": "cust_abc", "object": "customer", "summary": None, "loyalty": None, "referrals": None}


def make_client(server: HTTPServer, **overrides) -> VoucherifyClient:
    options = {
        "base_url": server.url_for("").rstrip("/"),
        "app_id": "app-id",
        "app_token": "app-token",
        "timeout": (1, 2),
        "total_timeout": 5,
        "max_retries": 2,
        "backoff_factor": 0.01,
    }
    return VoucherifyClient(**(options | overrides))


def sequence(*responses: Response):
    """A handler answering with each response in turn, then repeating the last one."""
    remaining = list(responses)

    def handler(request):
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return handler


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def error_body(code: int, key: str, **extra) -> dict:
    return {"code": code, "key": key, "message": "Error", **extra}


def test_sends_auth_and_accept_headers_once_configured(httpserver):
    httpserver.expect_request("/v1/customers/cust_abc").respond_with_json(CUSTOMER)

    data = make_client(httpserver).get(path("/v1/customers/{}", "cust_abc"))

    assert data["id"] == "cust_abc"
    request, _ = httpserver.log[0]
    assert request.headers["X-App-Id"] == "app-id"
    assert request.headers["X-App-Token"] == "app-token"
    assert request.headers["Accept"] == "application/json"


def test_ids_with_reserved_characters_arrive_escaped_in_the_path(httpserver):
    httpserver.expect_request(re.compile("^/v1/customers/.*")).respond_with_json(CUSTOMER)

    make_client(httpserver).get(path("/v1/customers/{}", "a?b&c#d+e@f g/h"))

    request, _ = httpserver.log[0]
    assert request.environ["RAW_URI"] == "/v1/customers/a%3Fb%26c%23d%2Be%40f%20g%2Fh"
    assert request.query_string == b""


def test_get_is_retried_after_429_honouring_retry_after(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_handler(
        sequence(
            json_response(error_body(429, "too_many_requests"), 429, {"Retry-After": "1"}),
            json_response({"object": "list", "customers": [], "total": 0}),
        )
    )

    started = time.monotonic()
    data = make_client(httpserver).get("/v1/customers")

    assert data["total"] == 0
    assert len(httpserver.log) == 2
    assert time.monotonic() - started >= 0.9


def test_get_is_retried_after_503_twice(httpserver):
    httpserver.expect_request("/v1/customers/cust_abc").respond_with_handler(
        sequence(
            json_response(error_body(503, "unavailable"), 503),
            json_response(error_body(503, "unavailable"), 503),
            json_response(CUSTOMER),
        )
    )

    data = make_client(httpserver).get(path("/v1/customers/{}", "cust_abc"))

    assert data["id"] == "cust_abc"
    assert len(httpserver.log) == 3


def test_put_and_delete_are_retried_like_get(httpserver):
    httpserver.expect_request("/v1/customers/cust_abc", method="PUT").respond_with_handler(
        sequence(Response("", status=502), json_response(CUSTOMER))
    )
    httpserver.expect_request("/v1/customers/cust_abc", method="DELETE").respond_with_handler(
        sequence(Response("", status=504), Response("", status=204))
    )
    client = make_client(httpserver)

    assert client.put(path("/v1/customers/{}", "cust_abc"), json={"name": "A"})["id"] == "cust_abc"
    assert client.delete(path("/v1/customers/{}", "cust_abc")) is None
    assert len(httpserver.log) == 4


def test_retries_stop_after_max_retries(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_data("bad gateway", status=502)

    with pytest.raises(Unavailable) as caught:
        make_client(httpserver, max_retries=2).get("/v1/customers")

    assert caught.value.status == 502
    assert not caught.value.timed_out
    assert len(httpserver.log) == 3


@pytest.mark.parametrize("status", [503, 429])
def test_post_is_never_retried(httpserver, status):
    httpserver.expect_request("/v1/customers", method="POST").respond_with_json(
        error_body(status, "nope"), status=status, headers={"Retry-After": "0"}
    )

    with pytest.raises((Unavailable, RateLimited)):
        make_client(httpserver).post("/v1/customers", json={"source_id": "x"})

    assert len(httpserver.log) == 1


def test_retry_after_beyond_the_budget_gives_up_at_once(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_json(
        {"code": 429, "message": "Too many requests hit the API too quickly."},
        status=429,
        headers={"Retry-After": "30"},
    )

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        make_client(httpserver, total_timeout=5).get("/v1/customers")

    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 30
    assert caught.value.status == 429
    assert len(httpserver.log) == 1


def test_rate_limit_headers_are_recorded_for_the_ui(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_json(
        {"object": "list", "customers": [], "total": 0},
        headers={"X-Rate-Limit-Limit": "2000", "X-Rate-Limit-Remaining": "1234"},
    )

    make_client(httpserver).get("/v1/customers")

    status = rate_limit_status()
    assert status.limit == 2000
    assert status.remaining == 1234
    assert status.observed_at is not None


def test_a_200_that_is_not_json_is_unavailable(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_data("<html>proxy login</html>", status=200)

    with pytest.raises(Unavailable) as caught:
        make_client(httpserver).get("/v1/customers")

    assert caught.value.status == 200
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("status", [401, 403])
def test_bad_credentials_raise_auth_error(httpserver, status):
    httpserver.expect_request("/v1/customers").respond_with_json(error_body(status, "unauthorized"), status=status)

    with pytest.raises(AuthError) as caught:
        make_client(httpserver).get("/v1/customers")

    assert caught.value.status == status
    assert len(httpserver.log) == 1


def test_404_raises_not_found_with_the_request_id_from_the_body(httpserver):
    httpserver.expect_request("/v1/customers/cust_x").respond_with_json(
        {
            "code": 404,
            "key": "not_found",
            "message": "Resource not found",
            "details": "Cannot find customer with id cust_x",
            "request_id": "v-0b4c590350857970df",
            "resource_id": "cust_x",
            "resource_type": "customer",
        },
        status=404,
        headers={"X-Request-Id": "v-from-header"},
    )

    with pytest.raises(NotFound) as caught:
        make_client(httpserver).get(path("/v1/customers/{}", "cust_x"))

    error = caught.value
    assert error.request_id == "v-0b4c590350857970df"
    assert error.key == "not_found"
    assert error.details == "Cannot find customer with id cust_x"
    assert error.code == 404


def test_request_id_falls_back_to_the_response_header(httpserver):
    httpserver.expect_request("/v1/customers/cust_x").respond_with_json(
        error_body(404, "not_found"), status=404, headers={"X-Request-Id": "v-header"}
    )

    with pytest.raises(NotFound) as caught:
        make_client(httpserver).get(path("/v1/customers/{}", "cust_x"))

    assert caught.value.request_id == "v-header"


def test_400_raises_request_error_with_details(httpserver):
    httpserver.expect_request("/v1/customers", method="POST").respond_with_json(
        {
            "code": 400,
            "key": "invalid_customer",
            "message": "Invalid customer",
            "details": "email must be a valid email",
            "request_id": "v-123",
        },
        status=400,
    )

    with pytest.raises(RequestError) as caught:
        make_client(httpserver).post("/v1/customers", json={"email": "nope"})

    error = caught.value
    assert error.status == 400
    assert error.key == "invalid_customer"
    assert error.details == "email must be a valid email"
    assert error.request_id == "v-123"
    assert "email must be a valid email" in str(error)


def test_413_body_shape_still_gives_a_request_error(httpserver):
    httpserver.expect_request("/v1/customers/bulk/async", method="POST").respond_with_json(
        {
            "statusCode": 413,
            "error": "Request Entity Too Large",
            "message": "Payload content length greater than maximum allowed: 10485760",
        },
        status=413,
    )

    with pytest.raises(RequestError) as caught:
        make_client(httpserver).post("/v1/customers/bulk/async", json=[])

    assert caught.value.code == 413
    assert "10485760" in caught.value.message


def test_504_from_upstream_counts_as_a_timeout(httpserver):
    httpserver.expect_request("/v1/customers").respond_with_data("", status=504)

    with pytest.raises(UpstreamTimeout):
        make_client(httpserver, max_retries=0).get("/v1/customers")


@pytest.fixture
def slow_upstream():
    """A threaded upstream whose handler hangs until the test ends."""
    release = threading.Event()
    server = HTTPServer(threaded=True)
    server.expect_request("/v1/customers").respond_with_handler(
        lambda request: (release.wait(10), json_response({"total": 0}))[1]
    )
    server.start()
    yield server
    release.set()
    server.clear()
    server.stop()


def test_a_hanging_upstream_times_out_within_the_total_budget(slow_upstream):
    client = make_client(slow_upstream, timeout=(1, 0.2), total_timeout=1.5, max_retries=2)

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as caught:
        client.get("/v1/customers")

    assert time.monotonic() - started < 1.5
    assert caught.value.timed_out
    assert isinstance(caught.value.__cause__, requests.Timeout)
    assert len(slow_upstream.log) <= 3


def test_read_timeout_never_exceeds_the_remaining_budget(slow_upstream):
    client = make_client(slow_upstream, timeout=(1, 10), total_timeout=0.5, max_retries=0)

    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        client.get("/v1/customers")

    assert time.monotonic() - started < 1


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_unavailable_after_retries():
    client = VoucherifyClient(
        base_url=f"http://127.0.0.1:{unused_port()}",
        app_id="a",
        app_token="t",
        max_retries=1,
        backoff_factor=0.01,
    )

    with pytest.raises(Unavailable) as caught:
        client.get("/v1/customers")

    assert not caught.value.timed_out
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


def test_each_call_is_logged_once_without_ids_or_query_values(httpserver, caplog):
    httpserver.expect_request(re.compile("^/v1/customers/.*")).respond_with_handler(
        sequence(json_response(error_body(503, "x"), 503), json_response(CUSTOMER))
    )
    httpserver.expect_request("/v1/customers").respond_with_json({"customers": [], "total": 0})
    client = make_client(httpserver)

    with caplog.at_level(logging.INFO, logger="customers_app.voucherify"):
        client.get(path("/v1/customers/{}", "jane.doe@example.com"))
        client.get("/v1/customers", params={"email": "jane.doe@example.com"})

    records = [r for r in caplog.records if r.name == "customers_app.voucherify"]
    assert len(records) == 2
    first, second = (r.getMessage() for r in records)
    assert "GET /v1/customers/{} -> 200" in first
    assert "attempts=2" in first
    assert "GET /v1/customers -> 200" in second
    assert all("jane" not in r.getMessage() and "example" not in r.getMessage() for r in records)


def test_each_thread_gets_its_own_session(httpserver):
    client = make_client(httpserver)
    sessions = []
    thread = threading.Thread(target=lambda: sessions.append(client.session))
    thread.start()
    thread.join()

    assert client.session is client.session
    assert sessions[0] is not client.session


def test_get_client_follows_settings_at_call_time(settings, httpserver):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_APP_ID = "settings-id"
    settings.VOUCHERIFY_APP_TOKEN = "settings-token"
    settings.VOUCHERIFY_IN_PROCESS = False
    httpserver.expect_request("/v1/customers").respond_with_json({"customers": [], "total": 0})

    get_client().get("/v1/customers")

    request, _ = httpserver.log[0]
    assert request.headers["X-App-Id"] == "settings-id"


# get_soon: the call goes out at once, the caller works meanwhile, result() is what get would give ------


def test_get_soon_lets_the_caller_work_while_voucherify_answers(httpserver):
    httpserver.expect_request("/v1/customers/cust_abc").respond_with_handler(
        lambda request: (time.sleep(1.0), json_response(CUSTOMER))[1]
    )
    client = make_client(httpserver, timeout=(1, 5))

    started = time.monotonic()
    pending = client.get_soon(path("/v1/customers/{}", "cust_abc"))
    time.sleep(0.8)  # the page rendering its header and filters
    data = pending.result()

    assert data["id"] == "cust_abc"
    assert time.monotonic() - started < 1.6  # one after the other would take 1.8 s
    assert len(httpserver.log) == 1


def test_get_soon_result_raises_what_get_raises_and_keeps_it(httpserver):
    httpserver.expect_request("/v1/customers/missing").respond_with_json(
        error_body(404, "not_found", request_id="v-0a1b2c"), status=404
    )
    pending = make_client(httpserver).get_soon(path("/v1/customers/{}", "missing"))

    for _ in range(2):  # asked again (a template, then the view): the same error, no second call
        with pytest.raises(NotFound) as caught:
            pending.result()
        assert caught.value.request_id == "v-0a1b2c"
    assert len(httpserver.log) == 1


def test_get_soon_retries_in_the_callers_thread_like_get(httpserver):
    httpserver.expect_request("/v1/customers/cust_abc").respond_with_handler(
        sequence(json_response(error_body(503, "unavailable"), 503), json_response(CUSTOMER))
    )

    assert make_client(httpserver).get_soon(path("/v1/customers/{}", "cust_abc")).result()["id"] == "cust_abc"
    assert len(httpserver.log) == 2


def test_get_soon_times_out_within_the_total_budget(slow_upstream):
    client = make_client(slow_upstream, timeout=(1, 0.2), total_timeout=1.0, max_retries=2)

    started = time.monotonic()
    pending = client.get_soon("/v1/customers")
    with pytest.raises(UpstreamTimeout):
        pending.result()
    assert time.monotonic() - started < 1.5


def test_get_soon_refused_by_the_budget_sends_nothing(httpserver, settings):
    from customers_app.services import budget

    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 2
    budget.reset()
    httpserver.expect_request("/v1/customers").respond_with_json({"customers": [], "total": 0})
    client = make_client(httpserver)
    client.get("/v1/customers")
    client.get("/v1/customers")

    pending = client.get_soon("/v1/customers")  # the booking happens here, not in result()
    with pytest.raises(RateLimited) as caught:
        pending.result()
    assert caught.value.by_governor and caught.value.retry_at is not None
    assert len(httpserver.log) == 2
    budget.reset()


def test_get_soon_then_converts_the_answer_and_passes_errors_through(httpserver):
    httpserver.expect_request("/v1/customers/cust_abc").respond_with_json(CUSTOMER)
    httpserver.expect_request("/v1/customers/gone").respond_with_json(error_body(404, "not_found"), status=404)
    client = make_client(httpserver)

    assert client.get_soon(path("/v1/customers/{}", "cust_abc")).then(lambda d: d["id"].upper()).result() == "CUST_ABC"
    converted = []
    with pytest.raises(NotFound):
        client.get_soon(path("/v1/customers/{}", "gone")).then(converted.append).result()
    assert converted == []


def test_a_proxy_from_the_environment_is_used(httpserver, monkeypatch):
    """Proxies are read from the environment once per session, not per call, but still honoured."""
    httpserver.expect_request("/v1/customers/cust_abc").respond_with_json(CUSTOMER)
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("").rstrip("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = VoucherifyClient(base_url="http://voucherify.invalid", app_id="a", app_token="t", max_retries=0)

    assert client.get(path("/v1/customers/{}", "cust_abc"))["id"] == "cust_abc"
    request, _ = httpserver.log[0]
    assert request.headers["Host"] == "voucherify.invalid"


def test_get_soon_parses_a_success_and_raises_what_the_parse_or_the_body_raises(httpserver):
    httpserver.expect_request("/v1/customers/cust_abc").respond_with_json(CUSTOMER)
    httpserver.expect_request("/v1/customers/html").respond_with_data("<html>proxy login</html>", status=200)
    client = make_client(httpserver, max_retries=0)

    made = client.get_soon(path("/v1/customers/{}", "cust_abc"), parse=lambda body: ("made", json.loads(body)["id"]))
    assert made.result() == ("made", "cust_abc")

    def broken(body):
        raise KeyError("summary")

    with pytest.raises(KeyError):
        client.get_soon(path("/v1/customers/{}", "cust_abc"), parse=broken).result()
    with pytest.raises(Unavailable, match="not JSON"):
        client.get_soon(path("/v1/customers/{}", "html")).result()


def test_get_soon_parse_reads_the_bytes_and_an_unreadable_answer_is_unavailable_with_its_id(httpserver):
    listed = {"object": "list", "customers": [{"id": "cust_abc", "name": "Ann", "metadata": {"a": 1}}], "total": 1}
    httpserver.expect_request("/v1/customers", query_string="limit=1").respond_with_json(listed)
    odd = {"customers": [{"id": 42}], "total": "one"}  # JSON, but not the API's list
    httpserver.expect_request("/v1/customers", query_string="limit=2").respond_with_json(
        odd, headers={"X-Request-Id": "v-odd-shape"}
    )
    client = make_client(httpserver, max_retries=0)

    page = client.get_soon("/v1/customers", params={"limit": 1}, parse=ListedCustomerPage.from_json).result()
    assert [(c.id, c.name) for c in page.customers] == [("cust_abc", "Ann")] and page.total == 1

    with pytest.raises(Unavailable, match="cannot read") as caught:
        client.get_soon("/v1/customers", params={"limit": 2}, parse=ListedCustomerPage.from_json).result()
    assert caught.value.request_id == "v-odd-shape"
