"""The index kept in step by a real worker, as `make run` runs it: prepare_dashboard starts the schedule,
the task worker loads the index through the Exports API, then picks up changes every few seconds."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import ROOT, ServedProduct, free_port, prepare_product, product_env

pytestmark = pytest.mark.django_db  # the autouse budget fixture; this product has its own databases

HEADERS = {"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-app-token"}


def status(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run([sys.executable, "manage.py", "search_index", "--status"], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}


def wait_for(env: dict[str, str], check, seconds: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    while True:
        seen = status(env)
        if check(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(1)


def test_a_served_product_loads_its_index_and_keeps_it_in_step(tmp_path):
    env = product_env(tmp_path, free_port(), SEARCH_SYNC_SECONDS="2")
    prepare_product(env, 40)
    product = ServedProduct(env, tmp_path / "product.log").start()
    try:
        loaded = wait_for(env, lambda seen: seen["Ready"] == "yes")
        assert loaded["Ready"] == "yes" and loaded["Customers"] == "40", loaded
        created = requests.post(product.url + "/sandbox/v1/customers", headers=HEADERS, timeout=10,
                                json={"name": "Worker Wanda", "email": "wanda@example.com"})  # fmt: skip
        assert created.status_code == 200
        synced = wait_for(env, lambda seen: seen["Customers"] == "41", seconds=30)
        assert synced["Customers"] == "41" and synced["Last error"] == "none", synced
    finally:
        product.stop()
