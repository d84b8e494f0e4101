"""The dashboard's own time per page as deployed: reaching Voucherify over HTTP, not in-process.

``two_servers()`` serves one product in sandbox mode as "Voucherify" (``SANDBOX_LATENCY_MS`` on every
answer) and a second dashboard in real-Voucherify mode pointed at it (``VOUCHERIFY_API_URL`` =
the first one's ``/sandbox``, its own database, users made with ``dashboard_user``), as a real
deployment runs. ``overhead_benchmarks()`` then times the list page of 100 rows against the API's own
list call and the detail page against ``GET /v1/customers/{id}``, interleaved so both see the same
machine load; the difference is what the dashboard adds (its own work and one more loopback hop).

Run alone with ``python -m tests.bench_overhead``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.bench import API_HEADERS, ROUNDS, Row, print_table, ratio_rows
from tests.conftest import ROOT, ServedProduct, free_port, prepare_product, product_env, signed_in

LATENCY_MS = 100
LIST_TARGET, DETAIL_TARGET = 1.10, 1.15
PASSWORD = "bench-overhead-password-7f3a"
# Connections kept open as long as nginx does by default, as a proxy or an API's load balancer would:
# with gunicorn's own 2 s, a client that pauses for longer can send on a connection just being closed.
KEEP_ALIVE = "--keep-alive 75"
SECRET_KEY = "bench-only-secret-key-not-for-production-5d1e9c2b7a4f"


def dashboard_env(workdir: Path, port: int, api_url: str, **overrides: str) -> dict[str, str]:
    """A dashboard in real-Voucherify mode (no sandbox app) talking to ``api_url`` over HTTP."""
    return product_env(
        workdir,
        port,
        VOUCHERIFY_API_URL=api_url,
        VOUCHERIFY_APP_ID=API_HEADERS["X-App-Id"],
        VOUCHERIFY_APP_TOKEN=API_HEADERS["X-App-Token"],
        DJANGO_SECRET_KEY=SECRET_KEY,
        # Plain HTTP on loopback (a deployment puts a TLS proxy in front).
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_HSTS_SECONDS="0",
        DASHBOARD_FILES_DIR=str(workdir / "files"),
        **overrides,
    )


def add_user(env: dict[str, str], username: str, role: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "dashboard_user", username, "--role", role, "--password", PASSWORD],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip


@contextlib.contextmanager
def two_servers(
    workdir: Path,
    *,
    customers: int = 2000,
    latency_ms: int = LATENCY_MS,
    upstream: dict[str, str] | None = None,
    dashboard: dict[str, str] | None = None,
    task_worker: bool = False,
) -> Iterator[tuple[ServedProduct, ServedProduct]]:
    """A sandbox product as Voucherify and a dashboard reaching it over HTTP, with users support, marketer, admin."""
    (workdir / "upstream").mkdir(parents=True, exist_ok=True)
    (workdir / "dashboard").mkdir(parents=True, exist_ok=True)
    up_env = product_env(
        workdir / "upstream",
        free_port(),
        SANDBOX_LATENCY_MS=str(latency_ms),
        LOG_LEVEL="WARNING",
        GUNICORN_CMD_ARGS=KEEP_ALIVE,
        **(upstream or {}),
    )
    prepare_product(up_env, customers)
    voucherify = ServedProduct(up_env, workdir / "upstream" / "gunicorn.log", task_worker=False).start()
    try:
        env = dashboard_env(
            workdir / "dashboard",
            free_port(),
            voucherify.url + "/sandbox",
            LOG_LEVEL="WARNING",
            GUNICORN_CMD_ARGS=KEEP_ALIVE,
            **(dashboard or {}),
        )
        prepare_product(env, 0)
        for role in ("support", "marketer", "admin"):
            add_user(env, role, role)
        product = ServedProduct(env, workdir / "dashboard" / "gunicorn.log", task_worker=task_worker).start()
        try:
            yield voucherify, product
        finally:
            product.stop()
    finally:
        voucherify.stop()


def overhead_benchmarks(rounds: int = ROUNDS) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp, two_servers(Path(tmp)) as (voucherify, product):
        session = signed_in(product.url, "support", PASSWORD)
        return ratio_rows("Over HTTP (as deployed)", session, product.url, voucherify.url + "/sandbox",
                          targets=(LIST_TARGET, DETAIL_TARGET), rounds=rounds)  # fmt: skip


if __name__ == "__main__":
    print_table(overhead_benchmarks())
