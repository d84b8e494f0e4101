"""Benchmarks for the import preview and the export: time and peak memory (tracemalloc).

``bench_import_preview(rows)`` writes a messy Windows-1250, semicolon-separated file and runs the
wizard's detection and dry run on it, as the preview page does. ``bench_export(customers)`` starts
the product in sandbox mode with that many customers and streams the export through the dashboard's
own code over real HTTP, recording the peak memory early in the export and over the rest of it:
the two should be about equal (memory does not grow with the row count).

Run alone with ``python -m tests.bench_import_export``.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from tests.bench import start_server

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
    """Seconds and peak MiB for exporting ``customers`` customers (all pages, by cursor) over HTTP."""
    _django()
    from django.conf import settings


    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        seed_started = time.perf_counter()
        process, url = start_server(Path(tmp), customers=customers)
        seed_seconds = time.perf_counter() - seed_started
        try:
            settings.VOUCHERIFY_API_URL = url + "/sandbox"
            settings.VOUCHERIFY_APP_ID, settings.VOUCHERIFY_APP_TOKEN = "sandbox-app-id", "sandbox-app-token"
            settings.VOUCHERIFY_IN_PROCESS = False
            from customers_app.import_forms import EXPORT_COLUMNS
            from customers_app.views.export import export_rows

            started = time.perf_counter()
            for _chunk in export_rows(filters={}, columns=list(EXPORT_COLUMNS)):
                pass
            seconds = time.perf_counter() - started
            # Memory on a second pass: tracemalloc slows Python down several times.
            tracemalloc.start()
            total_bytes = 0
            lines = 0
            early_peak = 0
            for chunk_number, chunk in enumerate(export_rows(filters={}, columns=list(EXPORT_COLUMNS)), start=1):
                total_bytes += len(chunk.encode("utf-8"))
                lines += chunk.count("\r\n")
                if chunk_number == 21:  # header + 20 pages of 100
                    early_peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.reset_peak()
            late_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        finally:
            process.terminate()
            process.wait(timeout=10)
    return {
        "customers": customers,
        "rows_exported": lines - 1,
        "file_mib": round(total_bytes / MIB, 2),
        "seconds": round(seconds, 3),
        "peak_mib_first_2000_rows": round((early_peak or late_peak) / MIB, 2),
        "peak_mib_rest": round(late_peak / MIB, 2),
        "peak_mib": round(max(early_peak, late_peak) / MIB, 2),
        "seed_and_start_seconds": round(seed_seconds, 1),
    }


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    customers = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    print("import preview:", bench_import_preview(rows))
    print("export:", bench_export(customers))
