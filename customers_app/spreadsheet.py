"""CSV files people open in spreadsheets: cells that would run as a formula are defused."""

from __future__ import annotations

import csv
import io
from typing import Any

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """The cell's text, with a leading apostrophe when a spreadsheet would treat it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class CsvChunks:
    """A CSV writer for streamed responses: rows go into a buffer, ``take()`` hands them over."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def writerow(self, cells) -> None:
        self._writer.writerow(cells)

    def take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text
