"""`make bench`: the dashboard's pages against the API they wrap, measured interleaved in one run.

Prints one table:

- the list page (100 rows) and the detail page against the API calls they are built on, alternating
  between the two so both see the same machine load, with SANDBOX_LATENCY_MS=100 (a real network's
  delay on every sandbox answer): with the sandbox in the dashboard's process, as `make run` serves
  it, and over HTTP with a second server as Voucherify, as deployed (``tests.bench_overhead``);
- 20 agents browsing as fast as they can for a minute with the sandbox's rate limit off: the
  dashboard's throughput (BENCH_LOAD_SECONDS);
- the API budget at 300 calls a minute: six agents browsing beside an export and a bulk update
  (``tests.bench_budget``; BENCH_BUDGET_SECONDS, BENCH_SKIP_BUDGET=1), and the governor's own cost
  per call (``tests.bench_governor``);
- CSV import preview and a background export job (``tests.bench_import_export``, skipped with
  BENCH_SKIP_IMPORT_EXPORT=1);
- the sandbox at 100,000 customers: seed time and memory, list calls with the rate limit on and off
  (``tests.bench_sandbox``, skipped with BENCH_SKIP_SCALE=1);
- the search index at 100,000 customers: the first load's time and calls, an incremental pass's calls,
  search latency over 200 fragments and the overview (``tests.search.bench_search``, BENCH_SKIP_SEARCH=1).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = 100
# Rounds per page/API pair (interleaved medians). The list page's target sits ~1 ms above what it
# measures, and with 30 rounds its median moved by about that much from one run to the next here.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "100"))
APP_ID, APP_TOKEN = "sandbox-app-id", "sandbox-app-token"
PASSWORD = "bench-demo-password"
API_HEADERS = {"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN}


@dataclass
class Row:
    name: str
    value: str
    target: str
    ok: bool | None


def start_server(
    workdir: Path, *, customers: int, latency_ms: int = 0, **overrides: str
) -> tuple[subprocess.Popen, str]:
    """The product in sandbox mode under gunicorn, as `make run` serves it, seeded with ``customers``;
    ``overrides`` are more environment variables (e.g. ``SANDBOX_RATE_LIMIT_PER_MINUTE="0"``)."""
    from tests.conftest import free_port

    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VOUCHERIFY_", "DJANGO_", "DATABASE_URL", "SANDBOX_", "CACHE_URL"))
    }
    env.update(
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{workdir / 'dashboard.sqlite3'}",
        SANDBOX_DATABASE_URL=f"sqlite:///{workdir / 'sandbox.sqlite3'}",
        SANDBOX_EXPORTS_DIR=str(workdir / "exports"),
        DASHBOARD_FILES_DIR=str(workdir / "files"),
        DJANGO_STATIC_ROOT=str(workdir / "static"),
        DEMO_PASSWORD=PASSWORD,
        SANDBOX_LATENCY_MS=str(latency_ms),
        LOG_LEVEL="WARNING",  # a log line per API call would dominate the timings
        **overrides,
    )
    subprocess.run(
        [sys.executable, "manage.py", "prepare_dashboard", "--customers", str(customers)],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [gunicorn, "dashboard.wsgi", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
         "--workers", "2", "--threads", "8", "--timeout", "120"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/sandbox/v1/customers", params={"limit": 1}, headers=API_HEADERS, timeout=30).ok:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


def logged_in(url: str, username: str = "admin") -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        url + "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": url + "/accounts/login/"},
    )
    response.raise_for_status()
    return session


def timed(call: Callable[[], requests.Response]) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def interleaved_ratio(page: Callable, api: Callable, rounds: int = ROUNDS) -> tuple[float, float]:
    """Median seconds of the page and of the API call, alternating between them."""
    page(), api()  # warm caches and connections
    page_times, api_times = [], []
    for _ in range(rounds):
        page_times.append(timed(page))
        api_times.append(timed(api))
    return statistics.median(page_times), statistics.median(api_times)


def ratio_rows(label: str, session: requests.Session, dashboard_url: str, api_url: str, *,
               targets: tuple[float, float], rounds: int = ROUNDS) -> list[Row]:  # fmt: skip
    """The list page (100 rows) against the API's list call and the detail page against
    ``GET /v1/customers/{id}``: interleaved medians, and their ratio against ``targets``."""
    api = requests.Session()
    api.headers.update(API_HEADERS)
    list_target, detail_target = targets
    rows = []
    page_s, api_s = interleaved_ratio(
        lambda: session.get(dashboard_url + "/customers/", params={"limit": 100}, timeout=30),
        lambda: api.get(api_url + "/v1/customers", params={"limit": 100, "page": 1}, timeout=30),
        rounds,
    )
    ratio = page_s / api_s
    rows.append(Row(f"{label}: list page, 100 rows / API list call",
                    f"{page_s * 1000:.0f} / {api_s * 1000:.0f} ms = {ratio:.2f}×",
                    f"≤ {list_target:.2f}×", ratio <= list_target))  # fmt: skip
    customer_id = api.get(api_url + "/v1/customers", params={"limit": 1}, timeout=30).json()["customers"][0]["id"]
    page_s, api_s = interleaved_ratio(
        lambda: session.get(f"{dashboard_url}/customers/{customer_id}/", timeout=30),
        lambda: api.get(f"{api_url}/v1/customers/{customer_id}", timeout=30),
        rounds,
    )
    ratio = page_s / api_s
    rows.append(Row(f"{label}: detail page / API get customer",
                    f"{page_s * 1000:.0f} / {api_s * 1000:.0f} ms = {ratio:.2f}×",
                    f"≤ {detail_target:.2f}×", ratio <= detail_target))  # fmt: skip
    return rows


def page_benchmarks(url: str) -> list[Row]:
    """The pages with the sandbox in the dashboard's own process, as `make run` serves them."""
    session = logged_in(url, "support")
    return ratio_rows("In-process sandbox (make run)", session, url, url + "/sandbox", targets=(1.15, 1.3))


def load_test(url: str, *, agents: int = 20, seconds: float = 60) -> list[Row]:
    """20 agents browse lists, customers and their tabs at once for a minute, as fast as they can: the
    dashboard's throughput, with the sandbox's rate limit off (the budget has its own scenario)."""
    import random
    import threading

    api = requests.Session()
    api.headers.update(API_HEADERS)
    sample = api.get(url + "/sandbox/v1/customers", params={"limit": 100}).json()["customers"]
    ids = [c["id"] for c in sample]
    cities = sorted({c["address"]["city"] for c in sample if c.get("address") and c["address"].get("city")})
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    sessions = [logged_in(url, "support") for _ in range(agents)]  # logging in is not what we measure
    stop_at = time.monotonic() + seconds

    def agent(number: int) -> None:
        rng = random.Random(number)
        session = sessions[number]
        while time.monotonic() < stop_at:
            customer = rng.choice(ids)
            visit = [
                (url + "/customers/", {"city": rng.choice(cities), "limit": rng.choice([10, 25, 50])}, {}),
                (url + "/customers/", {"page": rng.randint(1, 20)}, {"HX-Request": "true"}),
                (f"{url}/customers/{customer}/", {}, {}),
                (f"{url}/customers/{customer}/{rng.choice(['activity', 'redeemables', 'segments'])}/", {},
                 {"HX-Request": "true"}),
            ]  # fmt: skip
            for page_url, params, headers in visit:
                started = time.perf_counter()
                try:
                    response = session.get(page_url, params=params, headers=headers, timeout=30)
                    failed = None if response.status_code == 200 else f"{response.status_code} {page_url}"
                except requests.RequestException as exc:
                    failed = f"{type(exc).__name__} {page_url}"
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if failed:
                        errors.append(failed)

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(agents)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
    if errors:
        print(f"Load test errors (first 5 of {len(errors)}):", *errors[:5], sep="\n  ")
    return [
        Row(f"Load, rate limit off (the dashboard's throughput): {agents} agents × {seconds:.0f} s, requests",
            f"{len(latencies):,}", "", None),
        Row("Load: throughput", f"{len(latencies) / elapsed:.1f} req/s", "", None),
        Row("Load: 95th percentile", f"{p95 * 1000:.0f} ms", "", None),
        Row("Load: errors", str(len(errors)), "0", not errors),
    ]  # fmt: skip


def import_export_benchmarks() -> list[Row]:
    """CSV preview and a background export job: time, calls, and memory that must not grow with the rows."""
    from tests.bench_import_export import bench_export, bench_import_preview

    small, large = bench_import_preview(rows=5000), bench_import_preview(rows=50000)
    export = bench_export(customers=int(os.environ.get("BENCH_EXPORT_CUSTOMERS", "20000")))
    flat_export = export["peak_mib_full"] <= 1.5 * export["peak_mib_half"] + 0.5
    return [
        Row(f"Import preview, {large['rows']:,} rows ({large['file_mib']} MiB)", f"{large['seconds']:.2f} s", "≤ 5 s",
            large["seconds"] <= 5),
        Row("Import preview peak memory, 5,000 → 50,000 rows", f"{small['peak_mib']} → {large['peak_mib']} MiB",
            "flat", large["peak_mib"] <= 1.5 * small["peak_mib"] + 0.5),
        Row(f"Export job, {export['rows_exported']:,} customers ({export['file_mib']} MiB): time / calls spent",
            f"{export['seconds']:.1f} s / {export['calls_spent']} calls", "", None),
        Row(f"Export job peak memory, {export['peak_rows_half']:,} → {export['rows_exported']:,} customers",
            f"{export['peak_mib_half']} → {export['peak_mib_full']} MiB", "flat", flat_export),
    ]  # fmt: skip


def print_table(rows: list[Row]) -> None:
    widths = [max(len(r.name) for r in rows), max(len(r.value) for r in rows), max(len(r.target) for r in rows)]
    header = f"{'Benchmark':<{widths[0]}}  {'Result':>{widths[1]}}  {'Target':<{widths[2]}}  Status"
    print(header)
    print("-" * len(header))
    for row in rows:
        status = "" if row.ok is None else ("PASS" if row.ok else "FAIL")
        print(f"{row.name:<{widths[0]}}  {row.value:>{widths[1]}}  {row.target:<{widths[2]}}  {status}")


def main() -> int:
    from tests.bench_budget import budget_benchmarks
    from tests.bench_governor import governor_benchmarks
    from tests.bench_overhead import overhead_benchmarks

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        # The load test measures the dashboard's throughput, not the budget: the rate limit is off.
        process, url = start_server(Path(tmp), customers=2000, latency_ms=LATENCY_MS, SANDBOX_RATE_LIMIT_PER_MINUTE="0")
        try:
            print(f"Dashboard and sandbox at {url}, SANDBOX_LATENCY_MS={LATENCY_MS}, {ROUNDS} rounds each\n")
            rows += page_benchmarks(url)
            rows += load_test(url, seconds=float(os.environ.get("BENCH_LOAD_SECONDS", "60")))
        finally:
            process.terminate()
            process.wait(timeout=10)
    rows += overhead_benchmarks()
    if os.environ.get("BENCH_SKIP_BUDGET") != "1":
        rows += budget_benchmarks()
    rows += governor_benchmarks()
    if os.environ.get("BENCH_SKIP_IMPORT_EXPORT") != "1":
        rows += import_export_benchmarks()
    if os.environ.get("BENCH_SKIP_SCALE") != "1":
        from tests.bench_sandbox import scale_benchmarks

        rows += scale_benchmarks()
    if os.environ.get("BENCH_SKIP_SEARCH") != "1":
        from tests.search.bench_search import search_benchmarks

        rows += search_benchmarks()
    print_table(rows)
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
