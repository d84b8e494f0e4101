"""CSV export against the sandbox over real HTTP: every matching row, BOM, neutralised formulas."""

from __future__ import annotations

import csv
import io

import pytest

from tests.csv_samples import (
    remove_created_customers,  # noqa: F401 - a fixture
    unique,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers")]


def download(client, **params) -> list[list[str]]:
    response = client.get("/customers/export/", {"download": "1", **params})
    assert response.status_code == 200, response.content[:2000]
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark for spreadsheets
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_export_has_every_customer_across_pages(marketer_client, sandbox_server):
    total = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["total"]
    assert total > 100  # more than one page of 100
    rows = download(marketer_client, columns=["Id", "Email"])
    assert rows[0] == ["Id", "Email"]
    ids = [row[0] for row in rows[1:]]
    assert len(ids) == total
    assert len(set(ids)) == total  # no row twice across page boundaries


def test_export_of_a_filter_has_exactly_the_matching_rows(marketer_client, sandbox_server):
    city = unique("city")
    for index in range(3):
        sandbox_server.api("POST", "/v1/customers", json={"name": f"E{index}", "address": {"city": city}})
    rows = download(marketer_client, city=city, columns=["Name", "Address_City"])
    assert rows[0] == ["Name", "Address_City"]
    assert sorted(rows[1:]) == [["E0", city], ["E1", city], ["E2", city]]
    page = marketer_client.get("/customers/export/", {"city": city}).content.decode()
    assert 'data-count="total">3<' in page and "Download CSV" in page


def test_export_neutralises_spreadsheet_formulas(marketer_client, sandbox_server):
    city = unique("city")
    body = {
        "name": "=HYPERLINK(\"http://evil.example\",\"click\")",
        "phone": "+420 777 123 456",
        "description": "@SUM(A1:A9)",
        "address": {"city": city, "line_1": "-2+3"},
        "metadata": {"note": "=1+1"},
    }
    sandbox_server.api("POST", "/v1/customers", json=body)
    rows = download(marketer_client, city=city, columns=["Name", "Phone", "Description", "Address_line_1", "Metadata"])
    name, phone, description, line_1, metadata = rows[1]
    assert name == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert phone == "'+420 777 123 456"
    assert description == "'@SUM(A1:A9)"
    assert line_1 == "'-2+3"
    assert metadata == '{"note": "=1+1"}'  # JSON starts with "{": nothing to neutralise


def test_export_keeps_names_in_utf8(marketer_client, sandbox_server):
    city = unique("city")
    sandbox_server.api("POST", "/v1/customers", json={"name": "Łukasz Dvořák", "address": {"city": city}})
    rows = download(marketer_client, city=city, columns=["Name"])
    assert rows == [["Name"], ["Łukasz Dvořák"]]


def test_export_page_needs_a_column(marketer_client):
    response = marketer_client.get("/customers/export/", {"download": "1"})
    assert response.status_code == 400
    assert "Choose at least one column" in response.content.decode()


def test_export_default_columns_are_all_offered(marketer_client):
    html = marketer_client.get("/customers/export/").content.decode()
    for column in ("Source_id", "Email", "Metadata", "Created_at"):
        assert f'value="{column}"' in html


def test_support_cannot_export(support_client):
    assert support_client.get("/customers/export/").status_code == 403
    assert support_client.get("/customers/export/", {"download": "1", "columns": "Email"}).status_code == 403
