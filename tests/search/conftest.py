"""The search index's test helpers: an index that is ready from "now", sync passes run here, customers
made directly in the sandbox (as another client of the project would)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from customers_app.search.models import SearchIndexState
from customers_app.search.tasks import sync_index
from customers_app.types import parse_datetime
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture


@pytest.fixture
def ready_index(use_sandbox_server, settings):
    """The index as if its first load had just finished: a pass then reads only what the test changes.

    The reconciliation is put off (a test asks for it), so a pass costs one list call.
    """
    settings.SEARCH_RECONCILE_HOURS = 1000
    newest = use_sandbox_server.api("GET", "/v1/customers", params={"order": "-updated_at", "limit": 1}).json()
    top = newest["customers"][0]
    now = datetime.now(UTC)
    SearchIndexState.objects.update_or_create(
        pk=1,
        defaults={
            "ready": True,
            "watermark": parse_datetime(top["updated_at"]),
            "watermark_ids": [top["id"]],
            "full_load_finished_at": now,
            "last_reconcile_at": now,
            "last_sync_at": now,
        },
    )
    return use_sandbox_server


def sync() -> dict:
    """One sync pass, run here as the worker would run the task."""
    report = sync_index.call()
    assert not report["error"], report
    return report


def tag() -> str:
    return uuid.uuid4().hex[:10]


def unique_phone() -> tuple[str, str]:
    """A phone nobody else has, as typed ("+48 7xx xxx xxx") and as digits."""
    digits = "7" + "".join(random.choice("0123456789") for _ in range(8))
    return f"+48 {digits[:3]} {digits[3:6]} {digits[6:]}", "48" + digits


def create(sandbox_server, **body) -> dict:
    response = sandbox_server.api("POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    return response.json()
