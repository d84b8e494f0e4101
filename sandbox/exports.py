"""Exports (``POST /v1/exports``): being written; see the Exports API issue."""

from __future__ import annotations


def recover_orphans() -> None:
    """Exports left by a stopped process are finished here (to be implemented with the exports)."""
