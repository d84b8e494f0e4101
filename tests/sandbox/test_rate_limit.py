"""The sandbox's rate limit as Voucherify's clients meet it: headers, 429, Retry-After, shared counts.

In-process tests shrink the limit with ``settings``; the HTTP tests run their own product servers
with a limit of 20 calls per 5-second window (Voucherify's window is 60 s: a shorter one lets the
tests see calls accepted again without waiting a minute).
"""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.models import Customer
from tests.conftest import ServedProduct, free_port, prepare_product, product_env, signed_in

LIMIT = 20
WINDOW = 5.0
AUTH = {"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-app-token"}
RATE_LIMITED = {"code": 429, "message": "Too many requests hit the API too quickly."}


# In-process ---------------------------------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_headers_count_down_to_a_429_that_changes_nothing(api, contract, settings):
    settings.SANDBOX_RATE_LIMIT_PER_MINUTE = 3
    remaining = []
    for _ in range(3):
        response = api.get("/sandbox/v1/customers")
        assert response.status_code == 200 and response["X-Rate-Limit-Limit"] == "3"
        remaining.append(int(response["X-Rate-Limit-Remaining"]))
    assert remaining == [2, 1, 0]

    refused = api.post("/sandbox/v1/customers", {"source_id": "over-the-limit"}, content_type="application/json")
    assert refused.status_code == 429 and refused.json() == RATE_LIMITED
    contract.check("POST", "/v1/customers", refused)
    assert refused["X-Rate-Limit-Type"] == "api_calls" and refused["X-Rate-Limit-Remaining"] == "0"
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert abs(int(refused["X-Rate-Limit-Retry"]) - (time.time() + retry_after)) <= 2
    assert not Customer.objects.filter(source_id="over-the-limit").exists()

    bulk = api.post("/sandbox/v1/customers/bulk/async", [{"source_id": "x"}], content_type="application/json")
    assert bulk.status_code == 429
    contract.check("POST", "/v1/customers/bulk/async", bulk)  # the one operation that declares its 429


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_unauthenticated_calls_are_not_counted_and_zero_turns_the_limit_off(api, client, settings):
    settings.SANDBOX_RATE_LIMIT_PER_MINUTE = 2
    assert client.get("/sandbox/v1/customers").status_code == 401
    assert api.get("/sandbox/v1/customers")["X-Rate-Limit-Remaining"] == "1"

    settings.SANDBOX_RATE_LIMIT_PER_MINUTE = 0
    for _ in range(5):
        response = api.get("/sandbox/v1/customers")
        assert response.status_code == 200 and "X-Rate-Limit-Limit" not in response


# Over real HTTP -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tight_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tight-sandbox")
    prepare_product(product_env(workdir, free_port()), 20)
    return workdir


def tight_product(workdir, name: str) -> ServedProduct:
    env = product_env(
        workdir,
        free_port(),
        SANDBOX_RATE_LIMIT_PER_MINUTE=str(LIMIT),
        SANDBOX_RATE_LIMIT_WINDOW_SECONDS=str(WINDOW),
    )
    # No task worker: its background jobs (the search index's sync) would spend calls the tests count.
    return ServedProduct(env, workdir / f"{name}.log", task_worker=False).start()


@pytest.fixture(scope="module")
def tight(tight_dir):
    product = tight_product(tight_dir, "tight")
    yield product
    product.stop()


def call(product: ServedProduct, method: str = "GET", path: str = "/v1/customers", **kwargs) -> requests.Response:
    # A new connection per call, so gunicorn hands the calls to either of its two workers.
    headers = {**AUTH, "Connection": "close"}
    return requests.request(method, product.url + "/sandbox" + path, headers=headers, timeout=10, **kwargs)


def fresh_window() -> None:
    """Waits until every call made so far has left the window."""
    time.sleep(WINDOW + 0.2)


def test_the_limit_over_http_and_retry_after_honoured(tight):
    fresh_window()
    remaining = [int(call(tight).headers["X-Rate-Limit-Remaining"]) for _ in range(LIMIT)]
    assert remaining == list(range(LIMIT - 1, -1, -1))

    refused = call(tight, "POST", "/v1/customers", json={"source_id": "refused-over-http"})
    assert refused.status_code == 429 and refused.json() == RATE_LIMITED
    assert refused.headers["X-Rate-Limit-Limit"] == str(LIMIT) and refused.headers["X-Rate-Limit-Type"] == "api_calls"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW + 1
    assert call(tight).status_code == 429  # still refused, and refused calls are not counted

    time.sleep(retry_after)
    again = call(tight)
    assert again.status_code == 200, again.headers
    assert call(tight, path="/v1/customers/refused-over-http").status_code == 404  # the 429 created nothing


def test_the_count_is_shared_between_processes(tight, tight_dir):
    """A second server on the same sandbox database draws on the same budget, as every Voucherify client does."""
    other = tight_product(tight_dir, "tight-second")
    try:
        fresh_window()
        statuses = [call(server).status_code for _ in range(LIMIT // 2) for server in (tight, other)]
        assert statuses == [200] * LIMIT
        assert call(tight).status_code == 429 and call(other).status_code == 429
    finally:
        other.stop()


def test_the_dashboards_in_process_calls_count_like_http_calls(tight):
    """The served dashboard calls its sandbox in-process; each page's calls still come off the budget."""
    fresh_window()
    session = signed_in(tight.url, "support")
    before = int(call(tight).headers["X-Rate-Limit-Remaining"])
    page = session.get(tight.url + "/customers/", timeout=10)
    assert page.status_code == 200 and "data-customer-id" in page.text
    after = int(call(tight).headers["X-Rate-Limit-Remaining"])
    assert before - after >= 2  # this call, and at least the page's list call


def test_head_is_counted_and_answers_like_get(tight):
    fresh_window()
    get = call(tight, params={"limit": 3})
    head = call(tight, "HEAD", params={"limit": 3})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(get.content))
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert int(head.headers["X-Rate-Limit-Remaining"]) == int(get.headers["X-Rate-Limit-Remaining"]) - 1
