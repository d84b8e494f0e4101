"""A marketer imports a CSV in a real browser: upload, adjust a mapping, preview, confirm, watch the job."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

# The served product (gunicorn, two workers) keeps uploads and sent files in its database only.
OLD_UPLOAD_DIR = Path(__file__).resolve().parents[2] / "var" / "uploads"


def local_upload_files() -> set[Path]:
    return {path for path in OLD_UPLOAD_DIR.rglob("*") if path.is_file()} if OLD_UPLOAD_DIR.exists() else set()


@pytest.mark.usefixtures("remove_created_customers")
def test_import_wizard_end_to_end(login_page, sandbox_server):
    tag = f"web-{uuid.uuid4().hex[:8]}"
    content = (
        "Source_id;Full Name;E-mail;Town;Segment\r\n"
        f"{tag}-1;Věra Čermáková;vera+{tag}@example.cz;Plzeň;b2b\r\n"
        f"{tag}-2;Łukasz Wąsowski;lukasz+{tag}@example.pl;Łódź;b2c\r\n"
        f"{tag}-3;Broken Mail;not-an-email;Brno;b2c\r\n"
    ).encode("cp1250")
    files_before = local_upload_files()
    page = login_page("marketer")
    page.get_by_role("link", name="Import", exact=True).click()
    page.wait_for_url("**/customers/import/")
    page.get_by_label("CSV file").set_input_files({"name": "crm.csv", "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name="Upload and map columns").click()

    page.wait_for_url("**/customers/import/map/")
    assert page.get_by_label("Encoding").input_value() == "cp1250"
    assert page.get_by_label("Import “Town” as").input_value() == "Address_City"
    assert page.get_by_label("Import “Segment” as").input_value() == "metadata"
    page.get_by_label("Import “Segment” as").select_option("skip")  # adjust one mapping
    page.get_by_role("button", name="Preview the import").click()

    page.wait_for_url("**/customers/import/preview/")
    assert page.locator('[data-count="valid"]').inner_text() == "2"
    assert page.locator('[data-count="invalid"]').inner_text() == "1"
    assert page.locator('tr[data-line="4"]').inner_text().count("Malformed email") == 1
    assert "Věra Čermáková" in page.locator(".sent-table").inner_text()
    assert "Segment" not in page.locator(".sent-table thead").inner_text()
    page.get_by_role("button", name="Import 2 customers").click()

    page.wait_for_url(re.compile(r"/jobs/aa_[0-9a-f]+/$"))
    page.locator('#job-status[data-status="DONE"]').wait_for(timeout=30_000)  # htmx polling every 2 s
    status = page.locator("#job-status")
    assert "2 customer(s) imported successfully, 0 failed." in status.inner_text()
    assert status.get_attribute("hx-trigger") is None  # polling stopped
    assert local_upload_files() <= files_before  # nothing written under var/uploads

    page.goto("/customers/")
    page.get_by_label("Email", exact=True).fill(f"vera+{tag}@example.cz")
    page.wait_for_function("() => document.querySelectorAll('tr[data-customer-id]').length === 1")
    row = page.locator("tr[data-customer-id]")
    assert "Věra Čermáková" in row.inner_text()
    row.get_by_role("link").click()
    page.wait_for_url("**/customers/cust_*/")
    assert "Čermáková" in page.locator("h1").inner_text()
