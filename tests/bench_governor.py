"""What the API budget's governor adds to every upstream call: ``budget.acquire`` and ``budget.observe``.

Measured against the dashboard's own database as deployed on one machine (SQLite with the settings'
WAL, busy timeout and IMMEDIATE transactions): one thread booking call after call, then several
threads booking at once (they queue for SQLite's single writer, as gunicorn's threads do). The answer
each call observes says exactly what the governor expected to be left, so nothing but the booking
writes. ``governor_benchmarks()`` runs this in a subprocess on a fresh database file, so the settings
(and the database) are its own.

Run alone with ``python -m tests.bench_governor``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.bench import Row, print_table
from tests.conftest import ROOT, free_port, product_env

CALLS = int(os.environ.get("BENCH_GOVERNOR_CALLS", "2000"))
THREADS = 8
TARGET_MS = 1.0


def _one_call() -> float:
    from customers_app.services import budget

    started = time.perf_counter()
    booking = budget.acquire()
    expected = booking.usage.limit - booking.usage.used - 1  # what an answer with no other client says
    budget.observe(limit=booking.usage.limit, remaining=expected, retry_at=None, usage=booking.usage)
    return time.perf_counter() - started


def measure() -> dict:
    """Runs inside the subprocess: Django set up on the fresh database from the environment."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from customers_app.services import budget

    call_command("migrate", verbosity=0)
    budget.reset()
    for _ in range(50):  # warm the connection and the statements
        _one_call()
    single = [_one_call() for _ in range(CALLS)]

    per_thread = CALLS // THREADS
    parallel: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        from django.db import connections

        mine = [_one_call() for _ in range(per_thread)]
        with lock:
            parallel.extend(mine)
        connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA mmap_size")
        mmap_size = cursor.fetchone()[0]
    usage = budget.usage()
    return {
        "calls": CALLS,
        "single_median_ms": statistics.median(single) * 1000,
        "single_p95_ms": statistics.quantiles(single, n=20)[-1] * 1000,
        "threads": THREADS,
        "parallel_median_ms": statistics.median(parallel) * 1000,
        "parallel_p95_ms": statistics.quantiles(parallel, n=20)[-1] * 1000,
        "parallel_calls_per_s": len(parallel) / wall,
        "booked": usage.used,
        "mmap_size": mmap_size,
    }


def governor_benchmarks() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-governor-") as tmp:
        # A limit no run reaches: every call is let through and booked, as on a normal day.
        env = product_env(Path(tmp), free_port(), VOUCHERIFY_RATE_LIMIT_PER_MINUTE="100000000", LOG_LEVEL="WARNING",
                          DJANGO_SETTINGS_MODULE="dashboard.settings")  # fmt: skip
        answer = subprocess.run(
            [sys.executable, "-m", "tests.bench_governor", "--measure"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    single, parallel = result["single_median_ms"], result["parallel_median_ms"]
    return [
        Row("Governor per call (acquire + observe, SQLite), one thread: median / p95",
            f"{single:.3f} / {result['single_p95_ms']:.3f} ms", f"< {TARGET_MS:g} ms", single < TARGET_MS),
        Row(f"Governor per call, {result['threads']} threads at once: median / p95",
            f"{parallel:.3f} / {result['parallel_p95_ms']:.3f} ms ({result['parallel_calls_per_s']:,.0f} calls/s)",
            "", None),
    ]  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(json.dumps(measure()))
    else:
        print_table(governor_benchmarks())
