"""Customer exports over real HTTP: Voucherify's official SDK (``ExportsApi``) end to end, a 100,000-customer
export in flat memory, and an export interrupted by a crash finished after the restart."""

from __future__ import annotations

import csv
import io
import time
import uuid
from pathlib import Path

import pytest
import requests
import voucherify
from voucherify.exceptions import ApiException

from tests.conftest import ServedProduct, free_port, product_env

AUTH = {"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-app-token"}


def sdk_for(base_url: str, app_id: str = AUTH["X-App-Id"], app_token: str = AUTH["X-App-Token"]):
    config = voucherify.Configuration(host=base_url, api_key={"X-App-Id": app_id, "X-App-Token": app_token})
    return voucherify.ExportsApi(voucherify.ApiClient(config))


@pytest.fixture(scope="module")
def exports_api(sandbox_server):
    return sdk_for(sandbox_server.base_url, sandbox_server.app_id, sandbox_server.app_token)


def wait_until_finished(exports_api, export_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        export = exports_api.get_export(export_id)
        if export.status in ("DONE", "ERROR") or time.monotonic() > deadline:
            return export
        time.sleep(0.1)


@pytest.fixture
def own_customers(sandbox_server):
    """Three customers of this test only (the shared server holds the seeded ones and other tests')."""
    prefix = f"exp-{uuid.uuid4().hex[:8]}-"
    people = [
        {"source_id": prefix + "a", "name": "Zoë Ärger", "email": "zoe@example.com", "metadata": {"tier": "gold"}},
        {"source_id": prefix + "b", "name": "Adam Ng", "address": {"city": "Łódź"}, "metadata": {"tier": "silver"}},
        {"source_id": prefix + "c", "name": "Ola Ek", "metadata": {"tier": "gold", "ltv": 12}},
    ]
    created = []
    for person in people:
        response = sandbox_server.api("POST", "/v1/customers", json=person)
        assert response.status_code == 200, response.text
        created.append(response.json())
    yield prefix, created
    for customer in created:
        sandbox_server.api("DELETE", f"/v1/customers/{customer['id']}")


def test_sdk_creates_polls_lists_downloads_and_deletes(sandbox_server, exports_api, own_customers):
    prefix, created = own_customers
    body = voucherify.ExportsCreateRequestBody(
        exported_object="customer",
        parameters=voucherify.ExportsCreateRequestBodyParameters(
            fields=["source_id", "name", "email", "address_city", "metadata"],
            order="-name",
            filters={
                "junction": "and",
                "source_id": {"conditions": {"$starts_with": [prefix]}},
                "metadata.tier": {"conditions": {"$in": ["GOLD", "silver"]}},
            },
        ),
    )
    scheduled = exports_api.create_export(body)
    assert scheduled.id.startswith("exp_") and scheduled.status == "SCHEDULED" and scheduled.result is None
    assert scheduled.parameters.fields == ["source_id", "name", "email", "address_city", "metadata"]
    assert scheduled.parameters.order == "-name" and scheduled.channel == "API"

    done = wait_until_finished(exports_api, scheduled.id)
    assert done.status == "DONE" and done.exported_object == "customer"
    assert done.result.url.startswith(f"{sandbox_server.base_url}/v1/exports/{done.id}?token=")
    token = done.result.url.split("token=", 1)[1]

    text = exports_api.download_export(done.id, token=token)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [
        ["source_id", "name", "email", "address_city", "metadata"],
        [prefix + "a", "Zoë Ärger", "zoe@example.com", "", '{"tier":"gold"}'],
        [prefix + "c", "Ola Ek", "", "", '{"tier":"gold","ltv":12}'],
        [prefix + "b", "Adam Ng", "", "Łódź", '{"tier":"silver"}'],
    ]
    # result.url works as it is, with no application keys (Voucherify serves it from its download host).
    plain = requests.get(done.result.url, timeout=30)
    assert plain.status_code == 200 and plain.headers["Content-Type"].startswith("text/plain")
    assert plain.content.decode() == text

    listed = exports_api.list_exports(limit=100, order="-created_at")
    assert listed.data_ref == "exports" and listed.total >= 1 and done.id in [e.id for e in listed.exports]

    exports_api.delete_export(done.id)
    with pytest.raises(ApiException) as error:
        exports_api.get_export(done.id)
    assert error.value.status == 404
    assert requests.get(done.result.url, timeout=30).status_code == 401


def test_sdk_sees_voucherify_errors(sandbox_server, exports_api):
    with pytest.raises(ApiException) as error:
        exports_api.create_export(voucherify.ExportsCreateRequestBody(exported_object="voucher"))
    assert error.value.status == 400 and "voucher" in error.value.body
    fields = voucherify.ExportsCreateRequestBodyParameters(fields=["name", "loyalty_points"])
    fields.fields.append("shoe_size")  # the SDK checks fields on assignment only
    with pytest.raises(ApiException) as error:
        exports_api.create_export(voucherify.ExportsCreateRequestBody(exported_object="customer", parameters=fields))
    assert error.value.status == 400 and "invalid_export_fields" in error.value.body
    with pytest.raises(ApiException) as error:
        exports_api.download_export("exp_000000000000000000000000", token="nope")
    assert error.value.status == 401
    with pytest.raises(ApiException) as error:
        sdk_for(sandbox_server.base_url, "x", "y").list_exports()
    assert error.value.status == 401


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def api(product: ServedProduct, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, product.url + "/sandbox" + path, headers=AUTH, timeout=60, **kwargs)


def export_and_wait(product: ServedProduct, parameters: dict, timeout: float = 300) -> dict:
    response = api(product, "POST", "/v1/exports", json={"exported_object": "customer", "parameters": parameters})
    assert response.status_code == 200, response.text
    return wait_for_export(product, response.json()["id"], timeout)


def wait_for_export(product: ServedProduct, export_id: str, timeout: float = 300, until=("DONE", "ERROR")) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        export = api(product, "GET", f"/v1/exports/{export_id}").json()
        if export["status"] in until or time.monotonic() > deadline:
            return export
        time.sleep(0.02)


def count_rows(download_url: str) -> tuple[list[str], int]:
    """The header and the number of data rows, read as a stream (the file is never held whole)."""
    with requests.get(download_url, stream=True, timeout=300) as response:
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
        response.raw.auto_close = False  # TextIOWrapper reads on after urllib3 would close the stream at EOF
        reader = csv.reader(io.TextIOWrapper(response.raw, encoding="utf-8", newline=""))
        header = next(reader)
        return header, sum(1 for _ in reader)


BIG_FIELDS = ["id", "source_id", "name", "email", "created_at", "birthdate", "address_city", "orders_total_amount",
              "loyalty_points", "metadata"]  # fmt: skip


def test_a_100k_export_keeps_the_worker_memory_flat(big_sandbox_dir, tmp_path):
    product = ServedProduct(
        product_env(big_sandbox_dir, free_port(), SANDBOX_RATE_LIMIT_PER_MINUTE="0"), tmp_path / "log", workers=1
    ).start()
    try:
        worker = product.worker_pids()[0]
        # A small export first, so the baseline already holds the code and connections an export uses.
        small = export_and_wait(product, {"fields": BIG_FIELDS, "filters": {"name": {"conditions": {"$is": "x"}}}})
        assert small["status"] == "DONE"
        customers = api(product, "GET", "/v1/customers", params={"limit": 1}).json()["total"]
        assert customers >= 100_000
        before = peak_rss_kib(worker)
        started = time.monotonic()
        export = export_and_wait(product, {"fields": BIG_FIELDS})
        elapsed = time.monotonic() - started
        grown = peak_rss_kib(worker) - before
        assert export["status"] == "DONE", export
        assert export["result"]["url"].startswith(product.url + "/sandbox/v1/exports/")
        header, rows = count_rows(export["result"]["url"])
        assert header == BIG_FIELDS and rows == customers
        assert grown < 40 * 1024, f"peak RSS grew by {grown} KiB exporting {rows} customers in {elapsed:.1f}s"
        api(product, "DELETE", f"/v1/exports/{small['id']}")
        api(product, "DELETE", f"/v1/exports/{export['id']}")
    finally:
        product.stop()


def test_an_export_interrupted_by_a_crash_is_finished_after_the_restart(big_sandbox_dir, tmp_path):
    env = product_env(big_sandbox_dir, free_port(), SANDBOX_RATE_LIMIT_PER_MINUTE="0")
    product = ServedProduct(env, tmp_path / "first.log", workers=1).start()
    try:
        response = api(product, "POST", "/v1/exports", json={"exported_object": "customer",
                                                             "parameters": {"fields": BIG_FIELDS}})  # fmt: skip
        export_id = response.json()["id"]
        seen = wait_for_export(product, export_id, 120, until=("IN_PROGRESS", "DONE", "ERROR"))
        assert seen["status"] == "IN_PROGRESS", seen
    finally:
        product.kill()
    exports_dir = Path(env["SANDBOX_EXPORTS_DIR"])
    assert not (exports_dir / f"{export_id}.csv").exists()  # never a half-written file under the served name

    restarted = ServedProduct(env, tmp_path / "second.log", workers=1).start()
    try:
        polled = api(restarted, "GET", f"/v1/exports/{export_id}").json()
        assert polled["status"] in ("SCHEDULED", "IN_PROGRESS"), polled
        done = wait_for_export(restarted, export_id)
        assert done["status"] == "DONE", done
        customers = api(restarted, "GET", "/v1/customers", params={"limit": 1}).json()["total"]
        assert count_rows(done["result"]["url"]) == (BIG_FIELDS, customers)
        assert sorted(p.name for p in exports_dir.iterdir() if p.name.startswith(export_id)) == [f"{export_id}.csv"]
        api(restarted, "DELETE", f"/v1/exports/{export_id}")
    finally:
        restarted.stop()
