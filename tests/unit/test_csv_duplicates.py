"""Repeated source ids are found exactly, in memory that does not grow with the file."""

from __future__ import annotations

import tracemalloc

from customers_app import csv_import


def csv_bytes(source_ids: list[str]) -> bytes:
    lines = ["Source_id,Name"] + [f"{sid},Person {n}" for n, sid in enumerate(source_ids)]
    return ("\n".join(lines) + "\n").encode()


def repeated(content: bytes) -> dict[str, int]:
    fmt = csv_import.detect_format(content)
    return csv_import.repeated_source_ids(content, fmt, csv_import.auto_mapping(fmt.headers))


def test_only_real_repeats_are_reported_with_their_first_line():
    ids = [f"crm-{n}" for n in range(30_000)]
    ids[100] = "crm-7"  # line 102 repeats line 9 (header is line 1)
    ids.append("crm-29999")
    assert repeated(csv_bytes(ids)) == {"crm-7": 9, "crm-29999": 30_001}


def test_a_file_without_repeats_has_none():
    assert repeated(csv_bytes([f"id-{n}" for n in range(5000)])) == {}


def test_memory_does_not_grow_with_the_number_of_rows():
    def peak(rows: int) -> int:
        content = csv_bytes([f"crm-{n}" for n in range(rows)])
        tracemalloc.start()
        repeated(content)
        result = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result

    assert peak(60_000) < 1.5 * peak(6_000) + 64 * 1024
