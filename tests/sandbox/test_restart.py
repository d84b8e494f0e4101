"""Jobs the sandbox was running when its process died are finished or failed with a reason on restart."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import ServedProduct, free_port, prepare_product, product_env

AUTH = {"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-app-token"}


@pytest.fixture(scope="module")
def restart_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("restart-sandbox")
    prepare_product(product_env(workdir, free_port()), 50)
    return workdir


def serve(workdir, name: str) -> ServedProduct:
    env = product_env(workdir, free_port(), SANDBOX_RATE_LIMIT_PER_MINUTE="0")
    return ServedProduct(env, workdir / f"{name}.log", workers=1).start()


def api(product: ServedProduct, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, product.url + "/sandbox" + path, headers=AUTH, timeout=30, **kwargs)


def wait_for(product: ServedProduct, action_id: str, done, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        action = api(product, "GET", f"/v1/async-actions/{action_id}").json()
        if done(action) or time.monotonic() > deadline:
            return action
        time.sleep(0.1)


def test_an_interrupted_action_fails_with_a_reason_and_a_queued_one_runs_after_restart(restart_dir):
    product = serve(restart_dir, "first")
    try:
        customers = [{"source_id": f"restart-{i}", "name": f"Restart {i}"} for i in range(6000)]
        running = api(product, "POST", "/v1/customers/bulk/async", json=customers).json()["async_action_id"]
        queued = api(product, "POST", "/v1/customers/bulk/async", json=[{"source_id": "restart-queued"}])
        queued = queued.json()["async_action_id"]
        seen = wait_for(product, running, lambda a: a["status"] != "ENQUEUED" and a["progress"] >= 5)
        assert seen["status"] == "IN_PROGRESS" and seen["progress"] < 100, seen
        assert api(product, "GET", f"/v1/async-actions/{queued}").json()["status"] == "ENQUEUED"
    finally:
        product.kill()

    restarted = serve(restart_dir, "second")
    try:
        interrupted = api(restarted, "GET", f"/v1/async-actions/{running}").json()
        assert interrupted["status"] == "FAILED" and interrupted["operation_status"] == "FAILED"
        error = interrupted["result"]["errors"][0]
        assert error["key"] == "interrupted" and "stopped while this action was running" in error["details"]

        finished = wait_for(restarted, queued, lambda a: a["status"] in ("DONE", "FAILED"))
        assert finished["status"] == "DONE" and finished["result"]["done_count"] == 1
        assert api(restarted, "GET", "/v1/customers/restart-queued").status_code == 200

        listed = api(restarted, "GET", "/v1/async-actions", params={"limit": 100}).json()["async_actions"]
        assert not [a for a in listed if a["status"] in ("ENQUEUED", "IN_PROGRESS")]
    finally:
        restarted.stop()
