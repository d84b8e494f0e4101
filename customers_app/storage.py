"""Files the dashboard keeps (export files today), through Django's storage API.

One module, so every kind of kept file has the same lifecycle: written once from a stream (memory
stays flat), read back as a stream, removed after its time or at once when a person in it is
erased. The storage is ``STORAGES["default"]``: local files by default (``DASHBOARD_FILES_DIR``),
shared storage such as S3 with several machines.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator

from django.core.files import File
from django.core.files.storage import storages


def _storage():
    return storages["default"]


def save_stream(name: str, chunks: Iterable[str]) -> tuple[str, int]:
    """Writes UTF-8 text chunks to ``name`` (a fresh name is chosen if taken); returns (name, bytes)."""
    with tempfile.TemporaryFile() as spool:
        size = 0
        for chunk in chunks:
            data = chunk.encode("utf-8")
            spool.write(data)
            size += len(data)
        spool.seek(0)
        return _storage().save(name, File(spool, name=name)), size


def open_stream(name: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes in chunks (for a streamed download)."""
    with _storage().open(name, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def exists(name: str) -> bool:
    return bool(name) and _storage().exists(name)


def delete(name: str) -> None:
    if name and _storage().exists(name):
        _storage().delete(name)


def contains_any(name: str, needles: Iterable[str]) -> bool:
    """Whether the file mentions any of ``needles`` (case-insensitive), read a chunk at a time."""
    wanted = [n.casefold() for n in needles if n]
    if not wanted or not exists(name):
        return False
    overlap = max(len(n) for n in wanted)
    tail = ""
    with _storage().open(name, "rb") as handle:
        while chunk := handle.read(256 * 1024):
            text = tail + chunk.decode("utf-8", errors="replace").casefold()
            if any(n in text for n in wanted):
                return True
            tail = text[-overlap:]
    return False
