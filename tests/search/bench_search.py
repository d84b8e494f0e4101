"""Benchmark of the search index at a real project's size (100,000 customers by default).

Seeds a sandbox into a temporary directory (or reuses ``BENCH_SEARCH_DIR``), then measures, each in
its own process: the first load (``search_index --rebuild --foreground``: seconds, peak RSS, Voucherify
calls), an incremental pass with nothing to read (calls), the latency of ``search_customers`` over 200
varied fragments (median and p95 of the server-side time) and of the overview's figures.

The dashboard calls its sandbox in-process here (as ``make run`` does), so the load's time holds the
sandbox writing the export too, and no network. Run with ``python -m tests.search.bench_search``
(``BENCH_SEARCH_CUSTOMERS`` changes the size).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import Row, print_table
from tests.bench_sandbox import _measured
from tests.conftest import ROOT, free_port, product_env

CUSTOMERS = int(os.environ.get("BENCH_SEARCH_CUSTOMERS", "100000"))
QUERIES = 200
P95_TARGET_MS = 50
LOAD_TARGET_S = 180


def _env(workdir: Path) -> dict[str, str]:
    return product_env(workdir, free_port(), LOG_LEVEL="WARNING", SANDBOX_RATE_LIMIT_PER_MINUTE="0")


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
                          text=True)  # fmt: skip
    return done.stdout


def prepare(workdir: Path) -> dict[str, str]:
    env = _env(workdir)
    _manage(env, "migrate", "-v0")
    _manage(env, "migrate", "--database", "sandbox", "-v0")
    _manage(env, "sandbox_seed", "--customers", str(CUSTOMERS), "--if-empty")
    return env


def fragments(rows: list[dict], rng: random.Random) -> list[str]:
    """Fragments an agent would type: pieces of names, emails, phones (spaced or not), ids, source ids,
    cities without accents, and two words together."""
    from customers_app.search.text import digits, fold

    picked: list[str] = []
    kinds = ["name", "email", "phone", "phone_spaced", "id", "source_id", "two_words", "city_and_name"]
    while len(picked) < QUERIES:
        row = rng.choice(rows)
        kind = kinds[len(picked) % len(kinds)]
        name = fold(row["name"] or "anna")
        if kind == "name":
            word = rng.choice(name.split() or ["anna"])
            picked.append(word[: rng.randint(3, max(3, len(word)))])
        elif kind == "email" and row["email"]:
            local = row["email"].split("@")[0]
            start = rng.randint(0, max(0, len(local) - 4))
            picked.append(local[start : start + rng.randint(3, 6)])
        elif kind in ("phone", "phone_spaced") and row["phone"]:
            number = digits(row["phone"])
            start = rng.randint(0, max(0, len(number) - 6))
            piece = number[start : start + 6]
            picked.append(f"{piece[:3]} {piece[3:]}" if kind == "phone_spaced" else piece)
        elif kind == "id":
            start = rng.randint(5, len(row["customer_id"]) - 6)
            picked.append(row["customer_id"][start : start + 6])
        elif kind == "source_id" and row["source_id"]:
            picked.append(row["source_id"][-6:])
        elif kind == "two_words" and len(name.split()) > 1:
            first, last = name.split()[:2]
            picked.append(f"{first[:4]} {last[:4]}")
        elif kind == "city_and_name" and row["city"]:
            picked.append(f"{fold(row['city'])} {name.split()[0][:4]}")
    return picked


def child() -> None:
    """Runs inside a process set up for the benchmark's databases; prints the measurements as JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    django.setup()
    from customers_app.search.models import IndexedCustomer
    from customers_app.search.overview import figures
    from customers_app.search.query import search_customers
    from customers_app.search.sync import run_pass

    rng = random.Random(20261201)
    sample = list(IndexedCustomer.objects.order_by("?").values("customer_id", "name", "email", "phone", "source_id",
                                                               "city")[:2000])  # fmt: skip
    queries = fragments(sample, rng)
    search_customers(queries[0])  # warm the page cache and the connection
    timings, totals = [], []
    for q in queries:
        started = time.perf_counter()
        page = search_customers(q)
        timings.append((time.perf_counter() - started) * 1000)
        totals.append(page.total)
    started = time.perf_counter()
    figures()
    overview_ms = (time.perf_counter() - started) * 1000
    incremental = run_pass(reconcile=False)
    print(json.dumps({
        "median_ms": statistics.median(timings),
        "p95_ms": statistics.quantiles(timings, n=20)[-1],
        "max_ms": max(timings),
        "median_hits": statistics.median(totals),
        "overview_ms": overview_ms,
        "incremental_calls": incremental.calls,
        "indexed": IndexedCustomer.objects.count(),
    }))  # fmt: skip


def search_benchmarks(workdir: Path | None = None) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-search-") as scratch:
        workdir = workdir or Path(os.environ.get("BENCH_SEARCH_DIR") or scratch)
        started = time.perf_counter()
        env = prepare(workdir)
        seeded = time.perf_counter() - started
        log = workdir / "load.log"
        seconds, peak = _measured([sys.executable, "manage.py", "search_index", "--rebuild", "--foreground"], env, log)
        load = log.read_text().strip().splitlines()[-1]  # "full_load: N written, 0 removed, C Voucherify calls, S s"
        calls = int(load.split(" Voucherify calls")[0].rsplit(", ", 1)[1].replace(",", ""))
        measured = subprocess.run([sys.executable, "-m", "tests.search.bench_search", "--child"], cwd=ROOT, env=env,
                                  check=True, capture_output=True, text=True)  # fmt: skip
        numbers = json.loads(measured.stdout.strip().splitlines()[-1])
    size = f"{numbers['indexed']:,}"
    return [
        Row(f"sandbox seeded with {CUSTOMERS:,} customers (setup)", f"{seeded:.0f} s", "", None),
        Row(
            f"first load of {size} customers",
            f"{seconds:.0f} s, {peak:.0f} MiB peak",
            f"< {LOAD_TARGET_S} s",
            seconds < LOAD_TARGET_S,
        ),  # fmt: skip
        Row("first load: Voucherify calls", f"{calls}", "a handful (one export)", calls <= 12),
        Row(
            "incremental pass, nothing changed: calls",
            f"{numbers['incremental_calls']}",
            "1",
            numbers["incremental_calls"] == 1,
        ),  # fmt: skip
        Row(
            f"search over {QUERIES} fragments at {size}: median / p95",
            f"{numbers['median_ms']:.1f} / {numbers['p95_ms']:.1f} ms (max {numbers['max_ms']:.0f})",
            f"p95 < {P95_TARGET_MS} ms",
            numbers["p95_ms"] < P95_TARGET_MS,
        ),  # fmt: skip
        Row(f"overview figures at {size}", f"{numbers['overview_ms']:.0f} ms", "", None),
    ]


def main() -> int:
    if "--child" in sys.argv:
        child()
        return 0
    rows = search_benchmarks()
    print_table(rows)
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
