"""Tricky customer CSV files, built in code so every oddity is visible, and helpers to drive the wizard."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

CZECH_POLISH = [
    ("Jiří Dvořák", "jiri.dvorak@example.cz", "Plzeň"),
    ("Věra Čermáková", "vera.cermakova@example.cz", "České Budějovice"),
    ("Łukasz Żółkiewski", "lukasz@example.pl", "Łódź"),
    ("Małgorzata Wąsowska", "malgorzata@example.pl", "Kraków"),
]
WESTERN = [
    ("François Lefèvre", "francois@example.fr", "Besançon"),
    ("Jürgen Müller", "juergen@example.de", "Zürich"),
    ("José Peña", "jose@example.es", "Málaga"),
]


def unique(prefix: str = "imp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False) -> bytes:
    text = "\r\n".join(delimiter.join(cells) for cells in rows) + "\r\n"
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def people_rows(people, tag: str, header=("Source_id", "Name", "Email", "Address_City")) -> list[list[str]]:
    rows = [list(header)]
    for index, (name, email, city) in enumerate(people):
        rows.append([f"{tag}-{index}", name, email.replace("@", f"+{tag}@"), city])
    return rows


def upload(client, content: bytes, name: str = "customers.csv"):
    return client.post("/customers/import/", {"file": SimpleUploadedFile(name, content, content_type="text/csv")})


def import_state(client) -> dict:
    """The wizard state of the client's upload in progress: kept with the upload in the database;
    the session holds only the upload's token."""
    from customers_app.models import ImportFile

    token = client.session["customer_import"]["token"]
    upload = ImportFile.objects.get(token=token, kind=ImportFile.Kind.UPLOAD)
    return {**upload.state, "file_name": upload.file_name, "size": upload.size, "token": token}


def preview_counts(response) -> dict[str, int]:
    html = response.content.decode()
    return {
        name: int(value.replace(",", ""))
        for name, value in re.findall(r'data-count="(\w+)">([\d,]+)<', html)
    }


def confirm(client) -> str:
    """Confirms the import in progress and returns the job's async action id."""
    response = client.post("/customers/import/confirm/")
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.match(r"/jobs/([^/]+)/$", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def wait_for_action(sandbox_server, action_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        action = sandbox_server.api("GET", f"/v1/async-actions/{action_id}").json()
        if action.get("status") in ("DONE", "FAILED") or time.monotonic() > deadline:
            return action
        time.sleep(0.2)


@pytest.fixture(autouse=False)
def remove_created_customers(sandbox_server):
    """Deletes the customers a test created, so the shared sandbox keeps its seeded count for other tests."""
    started = datetime.now(UTC) - timedelta(seconds=1)
    yield
    params = {"limit": 100, "created_at[after]": started.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    for _ in range(20):
        customers = sandbox_server.api("GET", "/v1/customers", params=params).json()["customers"]
        if not customers:
            break
        for customer in customers:
            sandbox_server.api("DELETE", f"/v1/customers/{customer['id']}")
