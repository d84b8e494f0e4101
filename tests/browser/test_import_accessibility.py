"""axe-core finds no serious violations on the import, job, bulk-update, export and export-job pages, light and dark."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.test_accessibility import serious_violations
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture


@pytest.mark.usefixtures("remove_created_customers")
@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_import_job_bulk_and_export_pages_have_no_serious_violations(login_page, color_scheme):
    tag = uuid.uuid4().hex[:8]
    content = (
        "Source_id,Name,Email,Segment\r\n"
        f"a11y-{tag}-1,Ann Example,ann+{tag}@example.com,b2b\r\n"
        f"a11y-{tag}-2,Bad Mail,not-an-email,b2c\r\n"
    ).encode()
    page = login_page("marketer")
    page.emulate_media(color_scheme=color_scheme)
    found = {}

    def check(name: str) -> None:
        page.wait_for_load_state("networkidle")
        violations = serious_violations(page)
        if violations:
            found[name] = violations

    page.goto("/customers/import/")
    check("upload")
    page.get_by_label("CSV file").set_input_files({"name": "a.csv", "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name="Upload and map columns").click()
    page.wait_for_url("**/map/")
    check("map")
    page.get_by_role("button", name="Preview the import").click()
    page.wait_for_url("**/preview/")
    check("preview")
    page.get_by_role("button", name="Import 1 customer").click()
    page.wait_for_url(re.compile(r"/jobs/aa_"))
    page.locator('#job-status[data-status="DONE"]').wait_for(timeout=30_000)
    check("job")
    page.goto("/jobs/")
    check("jobs")
    page.goto("/customers/")
    page.locator('input[form="bulk-form"]').first.check()
    page.get_by_role("button", name="Bulk update selected").click()
    check("bulk")
    page.locator("#id_set-meta_key_0").fill("tier")
    page.locator("#id_set-meta_value_0").fill("gold")
    page.get_by_role("button", name="Preview changes").click()
    check("bulk preview")
    page.goto(f"/customers/export/?city=a11y-{tag}")
    check("export")
    page.get_by_role("button", name="Start the export").click()
    page.wait_for_url(re.compile(r"/jobs/run/"))
    page.locator('#job-status[data-status="succeeded"]').wait_for(timeout=30_000)
    check("export job")
    assert found == {}
