"""Benchmarks for the import preview and the export: time and peak memory (tracemalloc).

``bench_import_preview(rows)`` writes a messy Windows-1250, semicolon-separated file and runs the
wizard's detection and dry run on it, as the preview page does. ``bench_export(customers)`` serves
that many customers from a sandbox product and runs background export jobs against it over real HTTP,
as the worker does: the time and calls of an export of all of them, and the peak memory of an export
of 2,000 and of all of them, which should be about equal (memory does not grow with the row count).

Run alone with ``python -m tests.bench_import_export``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from tests.bench import start_server
from tests.conftest import ROOT

MIB = 1024 * 1024


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # one log line per API call would dominate the timing
    import django

    django.setup()


def _write_sample(path: Path, rows: int) -> None:
    rng = random.Random(5)
    first = ["Jiří", "Věra", "Łukasz", "Małgorzata", "Petr", "Anna", "Zdeněk", "Žofie", "Tomáš", "Kateřina"]
    last = ["Dvořák", "Čermáková", "Żółkiewski", "Wąsowska", "Novák", "Svobodová", "Král", "Růžičková"]
    cities = ["Praha", "Plzeň", "České Budějovice", "Łódź", "Kraków", "Brno", "Ústí nad Labem"]
    with path.open("w", encoding="cp1250", newline="") as out:
        out.write(" source id ;Full Name;E-mail;Phone;Birthdate;City;Loyalty Tier;Notes\r\n")
        for index in range(rows):
            name = f"{rng.choice(first)} {rng.choice(last)}"
            email = f"user{index}@example.cz" if index % 97 else "broken-email"
            birthdate = f"19{rng.randint(50, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            out.write(
                f"crm-{index:07d};{name};{email};+420 6{index:08d};{birthdate};{rng.choice(cities)};"
                f"{rng.choice(['gold', 'silver', 'bronze'])};Zákazník od roku {2000 + index % 25}\r\n"
            )


def bench_import_preview(rows: int = 50000) -> dict:
    """Seconds and peak MiB for detecting and previewing a ``rows``-row file (as the wizard does)."""
    _django()
    from customers_app import csv_import

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        path = Path(tmp) / "customers.csv"
        _write_sample(path, rows)
        size = path.stat().st_size

        def run():
            fmt = csv_import.detect_format(path)
            return fmt, csv_import.build_preview(path, fmt, csv_import.auto_mapping(fmt.headers))

        started = time.perf_counter()
        fmt, preview = run()
        seconds = time.perf_counter() - started
        # Memory on a second run: tracemalloc slows Python down several times.
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "rows": rows,
        "file_mib": round(size / MIB, 2),
        "encoding": fmt.encoding,
        "delimiter": fmt.delimiter,
        "valid": preview.valid,
        "invalid": preview.invalid,
        "seconds": round(seconds, 3),
        "peak_mib": round(peak / MIB, 2),
    }


def bench_export(customers: int = 20000) -> dict:
    """Seconds, calls and peak MiB of a background export job of ``customers`` customers.

    A sandbox product with that many customers plays Voucherify over HTTP; a subprocess configured as a
    dashboard in real-Voucherify mode (its own database and file storage) starts export jobs and runs
    them itself, as the worker does (``run_job.call``): every customer with every column, timed; then
    peak memory (tracemalloc) of an export of the newest half (at most 9,800) and of all of them. (The job
    hands its file on every 5,000 rows, so the halves should be past that for the peaks to compare.)
    """
    from tests.bench_overhead import dashboard_env
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        workdir = Path(tmp)
        seed_started = time.perf_counter()
        process, url = start_server(workdir / "voucherify", customers=customers)
        seed_seconds = time.perf_counter() - seed_started
        try:
            (workdir / "dashboard").mkdir()
            env = dashboard_env(workdir / "dashboard", free_port(), url + "/sandbox", LOG_LEVEL="WARNING")
            answer = subprocess.run(
                [sys.executable, "-m", "tests.bench_import_export", "--export-job", str(customers)],
                cwd=ROOT, env=env, capture_output=True, text=True,
            )  # fmt: skip
            if answer.returncode:
                raise RuntimeError(f"the export job benchmark failed:\n{answer.stderr[-4000:]}")
        finally:
            process.terminate()
            process.wait(timeout=10)
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    return {**result, "customers": customers, "seed_and_start_seconds": round(seed_seconds, 1)}


def _export_job_in_this_process(customers: int) -> dict:
    """The subprocess's part: Django as the dashboard, the jobs run here by ``run_job.call``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from customers_app.background import run_job
    from customers_app.export_jobs import COLUMN_FIELDS, start_export
    from customers_app.management.commands.dashboard_user import set_user_role
    from customers_app.models import BackgroundJob
    from customers_app.services.customers import customer_list

    call_command("migrate", verbosity=0)
    user, _ = set_user_role("marketer", "marketer", "bench-export-password-4b1c")
    columns = list(COLUMN_FIELDS)

    def run(filters: dict, total: int) -> BackgroundJob:
        job = start_export(user=user, filters=filters, columns=columns, total=total)
        run_job.call(str(job.pk))
        job.refresh_from_db()
        if job.status != BackgroundJob.Status.SUCCEEDED:
            raise RuntimeError(f"the export job ended {job.status}: {job.message}")
        return job

    started = time.perf_counter()
    full = run({}, customers)
    seconds = time.perf_counter() - started
    half = min(customers // 2 // 100, 98) * 100  # the list's page numbers stop at 99
    after = customer_list(limit=100, page=half // 100 + 1).customers[0]  # the (half + 1)th newest
    peaks = []
    for filters, total in (({"created_at_after": after.created_cursor}, half), ({}, customers)):
        tracemalloc.start()  # slows Python down several times: memory only, not time
        job = run(filters, total)
        peaks.append((job.done, tracemalloc.get_traced_memory()[1]))
        tracemalloc.stop()
    return {
        "rows_exported": full.done,
        "file_mib": round((full.file_size or 0) / MIB, 2),
        "seconds": round(seconds, 2),
        "calls_spent": full.calls_spent,
        "calls_estimate": full.calls_estimate,
        "peak_rows_half": peaks[0][0],
        "peak_mib_half": round(peaks[0][1] / MIB, 2),
        "peak_mib_full": round(peaks[1][1] / MIB, 2),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--export-job"]:
        print(json.dumps(_export_job_in_this_process(int(sys.argv[2]))))
        sys.exit(0)
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    customers = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    print("import preview:", bench_import_preview(rows))
    print("export:", bench_export(customers))
