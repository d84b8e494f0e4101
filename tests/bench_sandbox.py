"""Benchmark of the sandbox at a real project's size: 100,000 customers.

``bench_seed(customers)`` runs ``migrate`` and ``sandbox_seed`` as subprocesses into a temporary
directory and records the seed's time and peak RSS (from ``wait4``, so only that process counts).
``scale_benchmarks()`` seeds 10,000 and 100,000 customers, serves the 100,000 under two gunicorns,
one with the rate limit on (at 1,000,000 a minute: never refused, but counted on every call) and
one with it off, and times ``GET /v1/customers`` (limit=100) over loopback HTTP for every filter,
every order, deep pages and a 200-page ``starting_after`` walk, alternating between the two servers
so that both see the same machine load.

Run alone with ``python -m tests.bench_sandbox``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import requests

from tests.bench import API_HEADERS, Row, print_table
from tests.conftest import ROOT, ServedProduct, free_port, prepare_product, product_env

MIB = 1024 * 1024
CUSTOMERS = 100_000
SMALL = 10_000
ROUNDS = int(os.environ.get("BENCH_SCALE_ROUNDS", "25"))
WALK_PAGES = 200
TARGET_MS = 50
SEED_TARGET_S = 120


def _measured(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one subprocess, its output in ``log``; raises if it fails."""
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-4000:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def bench_seed(workdir: Path, customers: int) -> dict:
    """Seeds ``customers`` into a fresh sandbox database in ``workdir``: seconds and peak MiB of the seed."""
    env = product_env(workdir, free_port(), LOG_LEVEL="WARNING")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--database", "sandbox", "-v0"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    command = [sys.executable, "manage.py", "sandbox_seed", "--customers", str(customers)]
    seconds, peak = _measured(command, env, workdir / "seed.log")
    return {"customers": customers, "seconds": round(seconds, 1), "peak_mib": round(peak, 1)}


def _list_cases(api: requests.Session, url: str) -> list[tuple[str, dict]]:
    """Every filter (with a value the seed holds), every order and deep pages, each at limit=100."""

    def first(**params) -> dict:
        return api.get(url + "/sandbox/v1/customers", params={"limit": 1, **params}, timeout=30).json()

    newest = first()["customers"][0]
    oldest = first(order="created_at")["customers"][0]
    middle = (
        datetime.fromisoformat(oldest["created_at"])
        + (datetime.fromisoformat(newest["created_at"]) - datetime.fromisoformat(oldest["created_at"])) / 2
    )
    middle_iso = middle.isoformat().replace("+00:00", "Z")
    segments = api.get(url + "/sandbox/v1/segments", params={"limit": 100}, timeout=30).json()["data"]
    sizes = {s["id"]: first(segment_id=s["id"])["total"] for s in segments}
    biggest, smallest = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
    cases = [
        ("no filter", {}),
        ("email", {"email": newest["email"].upper()}),
        ("city", {"city": "warsaw"}),
        ("name contains 'anna'", {"name": "anna"}),
        ("name contains 'zoë dvoř' (rare)", {"name": "Zoë Dvoř"}),
        (f"segment_id, {sizes[biggest]:,} members", {"segment_id": biggest}),
        (f"segment_id, {sizes[smallest]:,} members", {"segment_id": smallest}),
        ("created_at[before] (mid-history)", {"created_at[before]": middle_iso}),
        ("created_at[after] (mid-history)", {"created_at[after]": middle_iso}),
        ("updated_at[before] (mid-history)", {"updated_at[before]": middle_iso}),
        ("updated_at[after] (mid-history)", {"updated_at[after]": middle_iso}),
    ]
    cases += [(f"order={order}", {"order": order}) for order in
              ("created_at", "-created_at", "updated_at", "-updated_at", "source_id", "-source_id")]  # fmt: skip
    cases += [("page=50", {"page": 50}), ("page=99", {"page": 99})]
    return [(label, {"limit": 100, **params}) for label, params in cases]


def _call(session: requests.Session, url: str, params: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    response = session.get(url + "/sandbox/v1/customers", params=params, timeout=30)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def _stats(seconds: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    return statistics.median(seconds) * 1000, statistics.quantiles(seconds, n=20)[-1] * 1000


def _pair(label: str, on: list[float], off: list[float]) -> Row:
    (on_med, on_p95), (off_med, off_p95) = _stats(on), _stats(off)
    value = f"{on_med:5.1f} / {on_p95:5.1f} | {off_med:5.1f} / {off_p95:5.1f} ms"
    return Row(f"  {label}", value, f"median < {TARGET_MS} ms", max(on_med, off_med) < TARGET_MS)


def list_benchmarks(on_url: str, off_url: str) -> list[Row]:
    """Each list call ``ROUNDS`` times on both servers, alternating which goes first, then the walk."""
    on, off = requests.Session(), requests.Session()
    on.headers.update(API_HEADERS)
    off.headers.update(API_HEADERS)
    rows = [Row(f"List at {CUSTOMERS:,}, limit=100: median / p95, rate limit on | off", "", "", None)]
    differences: list[float] = []
    for label, params in _list_cases(off, off_url):
        _call(on, on_url, params), _call(off, off_url, params)  # warm caches and connections
        times: dict[str, list[float]] = {"on": [], "off": []}
        for round_number in range(ROUNDS):
            order = (("on", on, on_url), ("off", off, off_url))
            for name, session, url in order if round_number % 2 else order[::-1]:
                times[name].append(_call(session, url, params)[0])
        differences += [a - b for a, b in zip(times["on"], times["off"], strict=True)]
        rows.append(_pair(label, times["on"], times["off"]))
    walk: dict[str, list[float]] = {"on": [], "off": []}
    cursor = None
    for page_number in range(WALK_PAGES):
        params = {"limit": 100} if cursor is None else {"limit": 100, "starting_after": cursor}
        order = (("on", on, on_url), ("off", off, off_url))
        for name, session, url in order if page_number % 2 else order[::-1]:
            elapsed, body = _call(session, url, params)
            walk[name].append(elapsed)
        cursor = body["customers"][-1]["created_at"]
    differences += [a - b for a, b in zip(walk["on"], walk["off"], strict=True)]
    rows.append(_pair(f"starting_after walk, {WALK_PAGES} pages of 100", walk["on"], walk["off"]))
    cost = statistics.median(differences) * 1000
    rows.append(Row("Rate limiter cost per list call (median of paired differences)", f"{cost:.2f} ms", "", None))
    return rows


def scale_benchmarks() -> list[Row]:
    """Seed time and memory at 10,000 and 100,000 customers, then the list calls at 100,000."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        small = bench_seed(Path(tmp) / "small", SMALL)
        big_dir = Path(tmp) / "big"
        big = bench_seed(big_dir, CUSTOMERS)
        rows = [
            Row(f"Seed {CUSTOMERS:,} customers (sandbox_seed)", f"{big['seconds']:.1f} s", f"< {SEED_TARGET_S} s",
                big["seconds"] < SEED_TARGET_S),
            Row(f"Seed peak memory, {SMALL:,} → {CUSTOMERS:,} customers",
                f"{small['peak_mib']:.0f} → {big['peak_mib']:.0f} MiB", "flat",
                big["peak_mib"] <= 1.25 * small["peak_mib"]),
        ]  # fmt: skip
        servers = []
        try:
            for limit in ("1000000", "0"):
                env = product_env(big_dir, free_port(), SANDBOX_RATE_LIMIT_PER_MINUTE=limit, LOG_LEVEL="WARNING")
                if not servers:
                    prepare_product(env, CUSTOMERS)  # the dashboard side; the sandbox is seeded already
                servers.append(ServedProduct(env, big_dir / f"gunicorn-{limit}.log", task_worker=False).start())
            rows += list_benchmarks(servers[0].url, servers[1].url)
        finally:
            for server in servers:
                server.stop()
    return rows


if __name__ == "__main__":
    print_table(scale_benchmarks())
